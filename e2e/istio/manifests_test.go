package istio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	extv1alpha1 "istio.io/api/extensions/v1alpha1"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"
	clientext "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	iopapis "istio.io/istio/operator/pkg/apis"
	appsv1 "k8s.io/api/apps/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshwaf/meshwaf/e2e/internal/plugin"
	"github.com/meshwaf/meshwaf/wasmplugin"
)

// strictJSON decodes like `kubectl apply --validate=strict` treats a field it does not know:
// as an error. It covers the object's metadata and, for Gateway API and core kinds, the spec.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// strictSpec decodes the object's spec into Istio's protobuf type. Istio's own JSON shims
// (and so client-go's UnmarshalJSON) accept unknown fields; protojson with DiscardUnknown off
// does not, so a misspelt key fails here instead of being dropped by the API server's pruning.
func strictSpec(obj []byte, spec proto.Message) error {
	var o struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(obj, &o); err != nil {
		return err
	}
	if len(o.Spec) == 0 {
		return fmt.Errorf("no spec")
	}
	return protojson.UnmarshalOptions{DiscardUnknown: false}.Unmarshal(o.Spec, spec)
}

// pluginObject is what a WasmPlugin and a TrafficExtension share, read from their specs.
type pluginObject struct {
	matchLabels  map[string]string
	targetRefs   []*typev1beta1.PolicyTargetReference
	authn        bool // phase AUTHN
	pullPolicy   extv1alpha1.PullPolicy
	failStrategy string // as written; "" when absent (FAIL_CLOSE is the enum's zero value, so the spec cannot tell)
	url, sha256  string
	pluginConfig *structpb.Struct
}

// checked is what checkObject found in one object.
type checked struct {
	plugin *pluginObject // nil for kinds without a module
}

// The objects the examples target, as the kind walkthrough in e2e/README.md creates them.
const (
	gatewayGroup   = "gateway.networking.k8s.io"
	exampleService = "frontend" // the workload labelled app=frontend, exposed as Service frontend
)

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkObject decodes one object with the types of its kind and checks what an example of
// that kind must have.
func checkObject(o Object) (checked, error) {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{o}, args...)...))
	}
	var c checked
	// failStrategy as written: the protobuf enum cannot tell FAIL_CLOSE from absent.
	var raw struct {
		Spec struct {
			FailStrategy *string `json:"failStrategy"`
			Wasm         struct {
				FailStrategy *string `json:"failStrategy"`
			} `json:"wasm"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(o.JSON, &raw); err != nil {
		fail("%v", err)
	}
	switch o.APIVersion + " " + o.Kind {
	case "extensions.istio.io/v1alpha1 WasmPlugin":
		if got := clientext.SchemeGroupVersion.String(); got != o.APIVersion {
			fail("client-go serves WasmPlugin in %s", got)
		}
		var obj clientext.WasmPlugin
		if err := strictJSON(o.JSON, &obj); err != nil {
			fail("%v", err)
		}
		var spec extv1alpha1.WasmPlugin
		if err := strictSpec(o.JSON, &spec); err != nil {
			fail("spec: %v", err)
			break
		}
		c.plugin = &pluginObject{
			matchLabels: spec.GetSelector().GetMatchLabels(), targetRefs: spec.GetTargetRefs(),
			authn: spec.GetPhase() == extv1alpha1.PluginPhase_AUTHN, pullPolicy: spec.GetImagePullPolicy(),
			failStrategy: deref(raw.Spec.FailStrategy), url: spec.GetUrl(), sha256: spec.GetSha256(),
			pluginConfig: spec.GetPluginConfig(),
		}
	case "extensions.istio.io/v1alpha1 TrafficExtension":
		var obj clientext.TrafficExtension
		if err := strictJSON(o.JSON, &obj); err != nil {
			fail("%v", err)
		}
		var spec extv1alpha1.TrafficExtension
		if err := strictSpec(o.JSON, &spec); err != nil {
			fail("spec: %v", err)
			break
		}
		w := spec.GetWasm()
		if w == nil {
			fail("no wasm")
			break
		}
		c.plugin = &pluginObject{
			matchLabels: spec.GetSelector().GetMatchLabels(), targetRefs: spec.GetTargetRefs(),
			authn: spec.GetPhase() == extv1alpha1.TrafficExtension_AUTHN, pullPolicy: w.GetImagePullPolicy(),
			failStrategy: deref(raw.Spec.Wasm.FailStrategy), url: w.GetUrl(), sha256: w.GetSha256(),
			pluginConfig: w.GetPluginConfig(),
		}
	case "gateway.networking.k8s.io/v1 Gateway":
		var gw gatewayv1.Gateway
		if err := strictJSON(o.JSON, &gw); err != nil {
			fail("%v", err)
			break
		}
		if gw.Spec.GatewayClassName != "istio-waypoint" {
			fail("gatewayClassName %q, want istio-waypoint", gw.Spec.GatewayClassName)
		}
	case "apps/v1 Deployment":
		var d appsv1.Deployment
		if err := strictJSON(o.JSON, &d); err != nil {
			fail("%v", err)
			break
		}
		if err := checkStatsProxyConfig(d.Spec.Template.Annotations["proxy.istio.io/config"]); err != nil {
			fail("proxy.istio.io/config: %v", err)
		}
	default:
		fail("no check for %s %s", o.APIVersion, o.Kind)
	}
	if p := c.plugin; p != nil {
		checkTargeting(o, p, fail)
		if !p.authn {
			fail("phase is not AUTHN: the WAF must run before Istio's authentication and authorization filters")
		}
		if p.pullPolicy == extv1alpha1.PullPolicy_UNSPECIFIED_POLICY {
			fail("imagePullPolicy not set")
		}
		// Written out, so a reader sees that an unfetchable module or a failed VM refuses
		// traffic instead of letting it through uninspected.
		if p.failStrategy != "FAIL_CLOSE" {
			fail("failStrategy %q, want FAIL_CLOSE written out", p.failStrategy)
		}
		if !strings.HasPrefix(p.url, "oci://") {
			fail("url %q, want oci://", p.url)
		}
		if !sha256Re.MatchString(p.sha256) {
			fail("sha256 %q is not 64 lowercase hex digits (the image's manifest digest without sha256:)", p.sha256)
		}
		switch pc := p.pluginConfig; {
		case pc == nil:
			fail("no pluginConfig")
		case len(pc.GetFields()["per_authority_directives"].GetStructValue().GetFields()) == 0:
			fail("pluginConfig has no per_authority_directives: the examples show a set per authority")
		}
	}
	return c, errors.Join(errs...)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// checkTargeting: a sidecar example selects by label, a waypoint example by targetRefs, each
// naming a Gateway (in gateway.networking.k8s.io) or a Service (core group, ""), in the
// policy's own namespace (istio#60530: a Service whose waypoint is in another namespace can
// hang the waypoint).
func checkTargeting(o Object, p *pluginObject, fail func(string, ...any)) {
	waypoint := strings.Contains(o.File, "waypoint")
	switch {
	case waypoint && (len(p.targetRefs) == 0 || len(p.matchLabels) > 0):
		fail("a waypoint example needs targetRefs and no selector (waypoints ignore selector)")
	case !waypoint && (len(p.matchLabels) == 0 || len(p.targetRefs) > 0):
		fail("a sidecar example needs selector.matchLabels")
	}
	for _, r := range p.targetRefs {
		switch {
		case r.GetKind() == "Gateway" && r.GetGroup() != gatewayGroup:
			fail("targetRef Gateway %q in group %q, want %s", r.GetName(), r.GetGroup(), gatewayGroup)
		case r.GetKind() == "Service" && r.GetGroup() != "":
			fail("targetRef Service %q in group %q, want the core group \"\"", r.GetName(), r.GetGroup())
		case r.GetKind() != "Gateway" && r.GetKind() != "Service":
			fail("targetRef kind %q: the examples target the waypoint Gateway or a Service", r.GetKind())
		}
		if r.GetNamespace() != "" {
			fail("targetRef %s %q names namespace %q (istio#60530)", r.GetKind(), r.GetName(), r.GetNamespace())
		}
	}
}

// checkWaypointFile: a waypoint manifest shows both ways to attach the plugin, the whole
// waypoint (a targetRef to waypoint.yaml's Gateway) and one Service behind it.
func checkWaypointFile(file string, plugins []*pluginObject) error {
	gws, err := Load("waypoint.yaml")
	if err != nil {
		return err
	}
	var errs []error
	for _, want := range []struct{ kind, group, name string }{
		{"Gateway", gatewayGroup, gws[0].Name},
		{"Service", "", exampleService},
	} {
		found := false
		for _, p := range plugins {
			for _, r := range p.targetRefs {
				found = found || (r.GetKind() == want.kind && r.GetGroup() == want.group && r.GetName() == want.name)
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("%s: no targetRef to %s %q (group %q)", file, want.kind, want.name, want.group))
		}
	}
	return errors.Join(errs...)
}

// checkStatsProxyConfig decodes a proxy.istio.io/config annotation (YAML) into Istio's
// ProxyConfig, unknown fields rejected, and checks it keeps meshwaf's stats and names every
// tag the plugin sets in extraStatTags.
func checkStatsProxyConfig(annotation string) error {
	if annotation == "" {
		return errors.New("missing")
	}
	js, err := yaml.YAMLToJSON([]byte(annotation))
	if err != nil {
		return err
	}
	var pc meshv1alpha1.ProxyConfig
	if err := protojson.Unmarshal(js, &pc); err != nil {
		return err
	}
	return checkStatsSettings(pc.GetProxyStatsMatcher().GetInclusionPrefixes(), pc.GetExtraStatTags())
}

// checkStatsSettings: extraStatTags names each tag of wasmplugin/statstags.json; inclusion
// prefixes, which the examples give only to be explicit (Istio always keeps "wasm…" stats:
// observability's TestDashboardQueriesExistUnderIstio reads that from Istio), select meshwaf's.
func checkStatsSettings(prefixes, extraStatTags []string) error {
	var errs []error
	for _, p := range prefixes {
		if !strings.HasPrefix("wasmcustom.waf_filter.", p) && !strings.HasPrefix(p, "wasmcustom.waf_filter") {
			errs = append(errs, fmt.Errorf("proxyStatsMatcher.inclusionPrefixes entry %q does not select wasmcustom.waf_filter", p))
		}
	}
	for _, tag := range wasmplugin.StatsTags(nil) {
		if !slices.Contains(extraStatTags, tag.TagName) {
			errs = append(errs, fmt.Errorf("extraStatTags %q lacks %s", extraStatTags, tag.TagName))
		}
	}
	return errors.Join(errs...)
}

// checkAll checks every object and, through the plugin, every plugin configuration.
func checkAll(t *testing.T, objs []Object) (pluginConfigs int, err error) {
	t.Helper()
	var errs []error
	var plugins []*pluginObject
	for _, o := range objs {
		c, err := checkObject(o)
		if err != nil {
			errs = append(errs, err)
		}
		if c.plugin == nil || c.plugin.pluginConfig == nil {
			continue
		}
		plugins = append(plugins, c.plugin)
		pluginConfigs++
		js, err := protojson.Marshal(c.plugin.pluginConfig)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := plugin.Accepts(t, js); err != nil {
			errs = append(errs, fmt.Errorf("%s: pluginConfig: %w", o, err))
		}
	}
	if len(objs) > 0 && strings.HasSuffix(objs[0].File, "-waypoint.yaml") {
		if err := checkWaypointFile(objs[0].File, plugins); err != nil {
			errs = append(errs, err)
		}
	}
	return pluginConfigs, errors.Join(errs...)
}

func TestManifests(t *testing.T) {
	kinds := map[string]int{}
	for _, file := range Files {
		t.Run(file, func(t *testing.T) {
			objs, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) == 0 {
				t.Fatal("no objects")
			}
			for _, o := range objs {
				kinds[o.Kind]++
			}
			n, err := checkAll(t, objs)
			if err != nil {
				t.Error(err)
			}
			if strings.HasPrefix(file, "wasmplugin") || strings.HasPrefix(file, "trafficextension") {
				if n != len(objs) {
					t.Errorf("%d objects, %d plugin configurations checked", len(objs), n)
				}
			}
		})
	}
	for _, k := range []string{"WasmPlugin", "TrafficExtension", "Gateway", "Deployment"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among the manifests", k)
		}
	}
}

// istioctlDecode reads an `istioctl install -f` file the way istioctl does (MergeInputs, then
// validation.ParseAndValidateIstioOperator): the file is merged onto a base IstioOperator
// (apiVersion, kind, metadata, spec) and decoded into istio.io/istio's IstioOperator with
// unknown fields rejected, so a top-level meshConfig (the istiod Helm values shape) fails with
// "unknown field". Two rules are stricter than istioctl: the file must say it is an
// IstioOperator itself (istioctl would supply apiVersion and kind), and spec.meshConfig is
// decoded with protojson rejecting unknown fields (istioctl applies it with
// protomarshal.ApplyYAML, which drops them, so a misspelt key would be lost silently).
func istioctlDecode(data []byte) (*iopapis.IstioOperator, *meshv1alpha1.MeshConfig, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, nil, err
	}
	var file map[string]any
	if err := json.Unmarshal(js, &file); err != nil {
		return nil, nil, err
	}
	if file["apiVersion"] != "install.istio.io/v1alpha1" || file["kind"] != "IstioOperator" {
		return nil, nil, fmt.Errorf("apiVersion %v, kind %v: want install.istio.io/v1alpha1 IstioOperator", file["apiVersion"], file["kind"])
	}
	merged := map[string]any{"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "metadata": map[string]any{}, "spec": map[string]any{}}
	for k, v := range file {
		merged[k] = v
	}
	mjs, err := json.Marshal(merged)
	if err != nil {
		return nil, nil, err
	}
	var iop iopapis.IstioOperator
	if err := strictJSON(mjs, &iop); err != nil {
		return nil, nil, fmt.Errorf("IstioOperator: %w", err)
	}
	if len(iop.Spec.MeshConfig) == 0 {
		return &iop, nil, errors.New("no spec.meshConfig")
	}
	var mc meshv1alpha1.MeshConfig
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(iop.Spec.MeshConfig, &mc); err != nil {
		return &iop, nil, fmt.Errorf("spec.meshConfig: %w", err)
	}
	return &iop, &mc, nil
}

// meshconfig.yaml is an IstioOperator for `istioctl install -f` (the kind walkthrough in
// e2e/README.md): it decodes as istioctl decodes it and keeps meshwaf's stats; the broken
// copies (the istiod Helm values shape it used to have, misspelt keys) are refused.
func TestMeshConfigValues(t *testing.T) {
	data, err := os.ReadFile("meshconfig.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		old, new string // the edit making the broken copy (its last occurrence: the comment shows the keys too); none for the file as shipped
		want     string // in the error; "" = accepted
	}{
		{name: "shipped_file_accepted"},
		{
			name: "meshconfig_at_top_level_refused",
			old:  "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n    defaultConfig:\n      proxyStatsMatcher:\n        inclusionPrefixes:\n          - wasmcustom.waf_filter\n",
			new:  "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmeshConfig:\n  defaultConfig:\n    proxyStatsMatcher:\n      inclusionPrefixes:\n        - wasmcustom.waf_filter\n",
			want: `unknown field "meshConfig"`,
		},
		{
			name: "helm_values_without_kind_refused",
			old:  "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n    defaultConfig:\n      proxyStatsMatcher:\n        inclusionPrefixes:\n          - wasmcustom.waf_filter\n",
			new:  "meshConfig:\n  defaultConfig:\n    proxyStatsMatcher:\n      inclusionPrefixes:\n        - wasmcustom.waf_filter\n",
			want: "want install.istio.io/v1alpha1 IstioOperator",
		},
		{name: "typo_in_spec_refused", old: "  meshConfig:", new: "  meshConfg:", want: `unknown field "meshConfg"`},
		{name: "typo_in_meshconfig_refused", old: "proxyStatsMatcher:", new: "proxyStatMatcher:", want: "proxyStatMatcher"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := data
			if c.old != "" {
				if !bytes.Contains(data, []byte(c.old)) {
					t.Fatalf("meshconfig.yaml no longer contains %q", c.old)
				}
				i := bytes.LastIndex(data, []byte(c.old))
				in = slices.Concat(data[:i], []byte(c.new), data[i+len(c.old):])
			}
			_, mc, err := istioctlDecode(in)
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want one containing %q", err, c.want)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dc := mc.GetDefaultConfig()
			if err := checkStatsSettings(dc.GetProxyStatsMatcher().GetInclusionPrefixes(), dc.GetExtraStatTags()); err != nil {
				t.Error(err)
			}
		})
	}
}

// A misspelt key anywhere must fail: in the spec (protojson), in metadata (strict JSON), in
// the plugin configuration (the plugin warns about unknown keys), in a TrafficExtension's
// wasm block. So must an example that drops what every example has to show (failStrategy,
// phase AUTHN, imagePullPolicy, an oci:// url with its digest, per-authority sets) or a
// waypoint manifest that stops showing both targets. want, when set, is in the error: the
// check meant for the mistake is the one that caught it.
func TestManifestMistakesAreCaught(t *testing.T) {
	const (
		zeros        = "0000000000000000000000000000000000000000000000000000000000000000"
		perAuthority = "per_authority_directives:\n      legacy.example.com: crs-detect\n      \"*.legacy.example.com\": crs-detect\n"
		serviceRef   = "    - kind: Service\n      group: \"\"\n      name: frontend\n"
		gatewayRef   = "    - kind: Gateway\n      group: gateway.networking.k8s.io\n      name: waypoint\n"
	)
	cases := []struct {
		name, file, old, new, want string
	}{
		{"typo_in_wasmplugin_spec", "wasmplugin-sidecar.yaml", "  imagePullPolicy:", "  imagePulPolicy:", "imagePulPolicy"},
		{"typo_in_trafficextension_wasm", "trafficextension-sidecar.yaml", "    failStrategy:", "    failStrategi:", "failStrategi"},
		{"wasmplugin_field_in_trafficextension", "trafficextension-waypoint.yaml", "  phase: AUTHN", "  phase: AUTHN\n  url: oci://x/y", `unknown field "url"`},
		{"typo_in_metadata", "wasmplugin-waypoint.yaml", "  namespace: default", "  namespaec: default", "namespaec"},
		{"unknown_enum_value", "wasmplugin-sidecar.yaml", "phase: AUTHN", "phase: AUTHENTICATION", "AUTHENTICATION"},
		{"typo_in_gateway", "waypoint.yaml", "gatewayClassName:", "gatewayClass:", "gatewayClass"},
		{"typo_in_plugin_config", "trafficextension-sidecar.yaml", "default_directives:", "default_directive:", "pluginConfig"},
		{"typo_in_proxy_config_annotation", "stats.yaml", "          extraStatTags:", "          extraStatsTags:", "extraStatsTags"},
		{"tag_missing_from_extra_stat_tags", "stats.yaml", "category, mode]", "mode]", "lacks category"},

		{"wasmplugin_waypoint_without_service_target", "wasmplugin-waypoint.yaml", serviceRef, gatewayRef, `no targetRef to Service "frontend"`},
		{"trafficextension_waypoint_without_gateway_target", "trafficextension-waypoint.yaml", gatewayRef, serviceRef, `no targetRef to Gateway "waypoint"`},
		{"gateway_target_not_the_waypoint", "wasmplugin-waypoint.yaml", "      name: waypoint\n", "      name: waypoint-1\n", `no targetRef to Gateway "waypoint"`},
		{"gateway_target_wrong_group", "trafficextension-waypoint.yaml", "      group: gateway.networking.k8s.io", "      group: networking.istio.io", "want gateway.networking.k8s.io"},
		{"service_target_in_gateway_group", "wasmplugin-waypoint.yaml", "      group: \"\"\n      name: frontend", "      group: gateway.networking.k8s.io\n      name: frontend", "want the core group"},
		{"target_in_other_namespace", "trafficextension-waypoint.yaml", "      name: frontend\n", "      name: frontend\n      namespace: apps\n", "istio#60530"},
		{"sidecar_without_selector", "wasmplugin-sidecar.yaml", "  selector:\n    matchLabels:\n      app: frontend\n", "", "needs selector.matchLabels"},
		{"wasmplugin_failstrategy_left_out", "wasmplugin-sidecar.yaml", "  failStrategy: FAIL_CLOSE\n", "", `failStrategy ""`},
		{"trafficextension_failstrategy_left_out", "trafficextension-waypoint.yaml", "    failStrategy: FAIL_CLOSE\n", "", `failStrategy ""`},
		{"fail_open", "wasmplugin-waypoint.yaml", "failStrategy: FAIL_CLOSE", "failStrategy: FAIL_OPEN", `failStrategy "FAIL_OPEN"`},
		{"wasmplugin_phase_authz", "wasmplugin-waypoint.yaml", "  phase: AUTHN", "  phase: AUTHZ", "phase is not AUTHN"},
		{"trafficextension_phase_left_out", "trafficextension-sidecar.yaml", "  phase: AUTHN\n", "", "phase is not AUTHN"},
		{"wasmplugin_pull_policy_left_out", "wasmplugin-sidecar.yaml", "  imagePullPolicy: IfNotPresent\n", "", "imagePullPolicy not set"},
		{"trafficextension_pull_policy_left_out", "trafficextension-waypoint.yaml", "    imagePullPolicy: IfNotPresent\n", "", "imagePullPolicy not set"},
		{"https_url", "trafficextension-sidecar.yaml", "url: oci://", "url: https://", "want oci://"},
		{"sha256_too_short", "wasmplugin-sidecar.yaml", zeros, zeros[1:], "64 lowercase hex"},
		{"sha256_with_prefix", "trafficextension-waypoint.yaml", `sha256: "`, `sha256: "sha256:`, "64 lowercase hex"},
		{"sha256_upper_case", "wasmplugin-waypoint.yaml", zeros, "A" + zeros[1:], "64 lowercase hex"},
		{"wasmplugin_without_per_authority_sets", "wasmplugin-sidecar.yaml", "    " + perAuthority, "", "no per_authority_directives"},
		{"trafficextension_without_per_authority_sets", "trafficextension-sidecar.yaml", "      " + strings.ReplaceAll(perAuthority, "\n      ", "\n        "), "", "no per_authority_directives"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := os.ReadFile(c.file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte(c.old)) {
				t.Fatalf("%s no longer contains %q", c.file, c.old)
			}
			objs, err := Parse(c.file, bytes.Replace(data, []byte(c.old), []byte(c.new), 1))
			if err != nil {
				t.Fatal(err)
			}
			_, err = checkAll(t, objs)
			switch {
			case err == nil:
				t.Errorf("%q → %q in %s passed every check", c.old, c.new, c.file)
			case !strings.Contains(err.Error(), c.want):
				t.Errorf("%q → %q in %s: caught, but not by the check meant for it (want %q): %v", c.old, c.new, c.file, c.want, err)
			default:
				t.Logf("caught: %v", err)
			}
		})
	}
}

// The Istio releases the comments and e2e/README.md may name: the module runs from Istio 1.25
// (its Envoy, 1.33, is the first whose Wasm host runs a standard-Go module: the README's
// requirements); TrafficExtension exists from Istio 1.30. WasmPlugin itself is older, so a
// WasmPlugin example needs what the module needs.
const (
	minIstioModule           = "1.25"
	minIstioTrafficExtension = "1.30"
)

var istioClaimRe = regexp.MustCompile(`Istio (?:>=|≥) (1\.\d+)`)

// istioClaims checks the "Istio >= X" claims of one file: a claim of 1.30 is about
// TrafficExtension (named on its line), every other claim is 1.25. It returns the first claim.
func istioClaims(name, text string) (first string, err error) {
	var errs []error
	for i, line := range strings.Split(text, "\n") {
		for _, m := range istioClaimRe.FindAllStringSubmatch(line, -1) {
			if first == "" {
				first = m[1]
			}
			te := strings.Contains(line, "TrafficExtension")
			switch {
			case te && m[1] != minIstioTrafficExtension:
				errs = append(errs, fmt.Errorf("%s:%d: %q: TrafficExtension needs Istio %s", name, i+1, m[0], minIstioTrafficExtension))
			case !te && m[1] != minIstioModule:
				errs = append(errs, fmt.Errorf("%s:%d: %q: the module needs Istio %s (TrafficExtension %s)", name, i+1, m[0], minIstioModule, minIstioTrafficExtension))
			}
		}
	}
	return first, errors.Join(errs...)
}

// Every Istio version the manifests' comments and e2e/README.md state agrees with the two
// minimums above, and each plugin manifest's header names the minimum of its kind.
func TestIstioVersionClaims(t *testing.T) {
	for _, file := range append(slices.Clone(Files), "meshconfig.yaml", "../README.md") {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		first, err := istioClaims(file, string(data))
		if err != nil {
			t.Error(err)
		}
		want := ""
		switch {
		case strings.HasPrefix(file, "wasmplugin"):
			want = minIstioModule
		case strings.HasPrefix(file, "trafficextension"):
			want = minIstioTrafficExtension
		}
		if want != "" && first != want {
			t.Errorf("%s: the header's first claim is Istio %q, want \"Istio >= %s\"", file, first, want)
		}
	}
	// The claim the audit found (wasmplugin-sidecar.yaml said 1.31) must not pass.
	for _, bad := range []string{
		"# meshwaf as an Istio WasmPlugin (Istio >= 1.31) on sidecars",
		"# TrafficExtension (Istio >= 1.25)",
	} {
		if _, err := istioClaims("broken", bad); err == nil {
			t.Errorf("%q passed", bad)
		}
	}
}
