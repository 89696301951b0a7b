// Package wasmplugin is meshwaf's WAF: it reads the plugin configuration, compiles one Coraza
// WAF per directive set, picks the WAF of each request by its authority, feeds Coraza the
// request and response as they stream through the proxy, and answers interruptions with local
// replies. It uses the typed API of internal/abi and never touches the ABI's raw memory.
package wasmplugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/meshwaf/meshwaf/internal/abi"
	"github.com/meshwaf/meshwaf/rules"
)

// NewVM returns the VM context to register with abi.SetVMContext.
func NewVM() abi.VMContext { return vm{} }

type vm struct{}

func (vm) OnVMStart(int) bool { return true }

func (vm) NewPluginContext(uint32) abi.PluginContext { return &plugin{sink: abi.Log} }

// plugin is one plugin configuration: its WAFs, router and metrics, all built in
// OnPluginStart and read-only afterwards.
type plugin struct {
	abi.DefaultPluginContext
	sink    logSink
	router  *router
	wafs    wafs
	metrics *metrics
	memory  *vmMemory
	// failureMode is what a stream gets when the WAF fails on it (Config.FailureMode).
	failureMode FailureMode
}

var (
	_ abi.PluginContext = (*plugin)(nil)
	_ abi.HTTPContext   = (*stream)(nil)
)

func (p *plugin) OnPluginStart(size int) bool {
	data, err := abi.PluginConfiguration.Bytes(0, size)
	if err != nil && !errors.Is(err, abi.ErrNotFound) && !errors.Is(err, abi.ErrEmpty) {
		p.sink(abi.LogLevelError, fmt.Sprintf("meshwaf: reading plugin configuration: %v", err))
		return false
	}
	if err := p.configure(data); err != nil {
		// One line per mistake, naming the key, set, line and directive: what the operator
		// must fix, all of it at once (as nginx -t does).
		for _, e := range splitErrors(err) {
			p.sink(abi.LogLevelError, "meshwaf: plugin configuration refused: "+e.Error())
		}
		return false
	}
	p.logGC()
	return true
}

// configure parses the configuration and builds everything a stream needs.
func (p *plugin) configure(data []byte) error {
	// The VM environment's mistakes are reported together with the configuration's.
	gogcErr := checkGOGC()
	cfg, err := ParseConfig(data)
	if err != nil || gogcErr != nil {
		return errors.Join(err, gogcErr)
	}
	defer collectWhileLoading()()
	built, warnings, err := buildWAFs(cfg, buildOptions{
		root:         rules.FS(),
		sink:         p.sink,
		onMatch:      matchedRuleLogger(p.sink),
		deprecatedFn: rules.Deprecated,
	})
	if err != nil {
		return err
	}
	for _, w := range append(cfg.Warnings, warnings...) {
		warnf(p.sink, "%s", w)
	}
	p.router = newRouter(cfg)
	p.failureMode = cfg.FailureMode
	p.wafs = built
	p.memory = newVMMemory(p.sink)
	p.metrics = newMetrics(cfg.MetricLabels, abiCounter, func(err error) {
		p.sink(abi.LogLevelWarn, "meshwaf: metric: "+err.Error())
	})
	if len(cfg.MetricLabels) > 0 {
		// JSON, so the list pastes into a bootstrap's stats_config.stats_tags as it is.
		tags, err := json.Marshal(StatsTags(cfg.MetricLabels))
		if err != nil {
			return fmt.Errorf("stats_tags: %w", err)
		}
		p.sink(abi.LogLevelInfo, "meshwaf: metric_labels need these Envoy stats_tags: "+string(tags))
		names := make([]string, 0, len(cfg.MetricLabels)+len(reservedTags))
		for _, t := range StatsTags(cfg.MetricLabels) {
			names = append(names, t.TagName)
		}
		p.sink(abi.LogLevelInfo, "meshwaf: on Istio, the same as the proxy's extraStatTags: "+strings.Join(names, ", "))
	}
	p.sink(abi.LogLevelInfo, fmt.Sprintf("meshwaf: started with %d directive set(s)", len(built)))
	return nil
}

// logGC writes the GC settings once the load's target has been replaced by the serving one.
func (p *plugin) logGC() {
	g := readGCSettings()
	p.sink(abi.LogLevelInfo, "meshwaf: "+g.String())
	if w := g.warning(); w != "" {
		warnf(p.sink, "%s", w)
	}
}

func (p *plugin) NewHTTPContext(uint32) abi.HTTPContext { return &stream{p: p} }

// wafFor returns the WAF for an authority and the routing entry that chose it (the metrics'
// authority label), or a nil WAF when no set applies.
func (p *plugin) wafFor(authority string) (*wafSet, string) {
	set, entry, ok := p.router.route(authority)
	if !ok {
		return nil, ""
	}
	return p.wafs[set], entry
}

// countMatches counts the detections of a finished transaction by CRS attack category.
func (p *plugin) countMatches(tx types.Transaction, route string) {
	for _, mr := range tx.MatchedRules() {
		if !isDetection(mr) {
			continue
		}
		if c := attackCategory(mr.Rule().Tags()); c != "" {
			p.metrics.matchedRule(c, route)
		}
	}
}

// isDetection reports whether a matched rule reports something: it is logged and has a
// message. CRS's flow-control rules also carry attack-* tags but are nolog without a msg, and
// some "match" on every clean transaction (951100's negated @pmFromFile, for one), so counting
// them would count traffic, not attacks.
func isDetection(mr types.MatchedRule) bool {
	// Coraza's MatchedRule has Log(); its types interface gains it only in v4.
	if l, ok := mr.(interface{ Log() bool }); ok && !l.Log() {
		return false
	}
	return mr.Message() != ""
}
