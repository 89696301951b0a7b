// Package envoy holds the Envoy bootstraps users run meshwaf with (envoy.yaml,
// envoy-remote.yaml, envoy-ftw.yaml) and reads them with Envoy's own API types
// (go-control-plane), so the tests check exactly what Envoy would parse.
package envoy

import (
	"errors"
	"fmt"
	"os"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"

	// The typed configs the bootstraps use; importing them registers their types, so Any
	// fields resolve as Envoy resolves them (an unregistered @type fails the parse).
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// Files are the bootstraps shipped in this directory.
var Files = []string{"envoy.yaml", "envoy-remote.yaml", "envoy-ftw.yaml"}

// Load reads a bootstrap (YAML or JSON) as Envoy does with --config-path: unknown fields
// and unknown @types are errors.
func Load(path string) (*bootstrapv3.Bootstrap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse parses a bootstrap from YAML or JSON.
func Parse(data []byte) (*bootstrapv3.Bootstrap, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var b bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// validator is what protoc-gen-validate generates for every Envoy message.
type validator interface{ ValidateAll() error }

// Validate runs protoc-gen-validate's ValidateAll on m and on every message packed in an Any
// anywhere inside it (typed_config of filters, access logs, transport sockets; the plugin's
// configuration): the generated ValidateAll checks an Any's type URL but not its content.
func Validate(m proto.Message) error {
	var errs []error
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.ProtoReflect().Descriptor().FullName(), err))
		}
	}
	err := walkAny(m.ProtoReflect(), func(path string, inner proto.Message) {
		if v, ok := inner.(validator); ok {
			if err := v.ValidateAll(); err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %w", path, inner.ProtoReflect().Descriptor().FullName(), err))
			}
		}
	})
	if err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// walkAny calls fn for every Any inside m, unpacked, depth first, with a field path for
// messages; it fails on an Any whose type is not registered.
func walkAny(m protoreflect.Message, fn func(path string, inner proto.Message)) error {
	var errs []error
	var walk func(path string, m protoreflect.Message)
	walk = func(path string, m protoreflect.Message) {
		if a, ok := m.Interface().(*anypb.Any); ok {
			inner, err := a.UnmarshalNew()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", path, a.GetTypeUrl(), err))
				return
			}
			fn(path, inner)
			walk(path+"<"+string(inner.ProtoReflect().Descriptor().FullName())+">", inner.ProtoReflect())
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			p := path + "." + string(fd.Name())
			switch {
			case fd.IsList() && fd.Message() != nil:
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					walk(fmt.Sprintf("%s[%d]", p, i), l.Get(i).Message())
				}
			case fd.IsMap() && fd.MapValue().Message() != nil:
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					walk(fmt.Sprintf("%s[%v]", p, k.Interface()), mv.Message())
					return true
				})
			case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
				walk(p, v.Message())
			}
			return true
		})
	}
	walk(string(m.Descriptor().Name()), m)
	return errors.Join(errs...)
}

// WasmFilter is one envoy.filters.http.wasm found in a bootstrap.
type WasmFilter struct {
	// Path locates the filter in the bootstrap.
	Path   string
	Filter *wasmfilterv3.Wasm
}

// PluginConfiguration returns the plugin configuration the filter hands the module: the
// StringValue in config.configuration (how the Coraza filter and meshwaf users write it).
func (w WasmFilter) PluginConfiguration() ([]byte, error) {
	a := w.Filter.GetConfig().GetConfiguration()
	if a == nil {
		return nil, errors.New("config.configuration is not set")
	}
	var s wrapperspb.StringValue
	if err := a.UnmarshalTo(&s); err != nil {
		return nil, fmt.Errorf("config.configuration: want a google.protobuf.StringValue: %w", err)
	}
	return []byte(s.GetValue()), nil
}

// WasmFilters returns every envoy.filters.http.wasm typed config inside b.
func WasmFilters(b *bootstrapv3.Bootstrap) ([]WasmFilter, error) {
	var out []WasmFilter
	err := walkAny(b.ProtoReflect(), func(path string, inner proto.Message) {
		if w, ok := inner.(*wasmfilterv3.Wasm); ok {
			out = append(out, WasmFilter{Path: path, Filter: w})
		}
	})
	return out, err
}

// Marshal writes b as JSON Envoy reads with -c (used to start Envoy from an edited bootstrap).
func Marshal(b *bootstrapv3.Bootstrap) ([]byte, error) {
	return protojson.MarshalOptions{Resolver: protoregistry.GlobalTypes, Indent: "  "}.Marshal(b)
}
