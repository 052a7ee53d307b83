package node

import (
	"os"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// Every ftm_ family a node can export is described in docs/metrics.md,
// and every family the page lists exists.
func TestEveryMetricFamilyIsDocumented(t *testing.T) {
	m := newNodeMetrics(&nodeRuntime{name: "a"}, "b")
	ch := make(chan *prometheus.Desc, 256)
	for _, c := range []prometheus.Collector{m.ckpts, m.ckptPages, m.ckptBytes, m.ckptDur, m.commitDur, m.refused, m.copyDur,
		m.copyFailed, m.takeoverDur, m.controlDur, m.rpcDur, m.hbRTT, &nodeCollector{}, &ruCollector{}} {
		c.Describe(ch)
	}
	close(ch)
	fqName := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	exported := map[string]bool{}
	for d := range ch {
		exported[fqName.FindStringSubmatch(d.String())[1]] = true
	}
	doc, err := os.ReadFile("../docs/metrics.md")
	require.NoError(t, err)
	documented := map[string]bool{}
	for _, mm := range regexp.MustCompile("\\| `(ftm_[a-z_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		documented[mm[1]] = true
	}
	require.Equal(t, exported, documented)
}
