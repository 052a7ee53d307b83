package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/ftm-in-go/ftm/node/control"
)

// scraper reads one node's HTTP endpoints over TLS with basic auth.
type scraper struct {
	t          *testing.T
	base       string
	http       *http.Client
	user, pass string
}

func (s scraper) get(path string, auth bool) (int, string) {
	req, err := http.NewRequest(http.MethodGet, s.base+path, nil)
	require.NoError(s.t, err)
	if auth {
		req.SetBasicAuth(s.user, s.pass)
	}
	resp, err := s.http.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, string(b)
}

// families scrapes /metrics and parses it as Prometheus does.
func (s scraper) families() map[string]*dto.MetricFamily {
	code, body := s.get("/metrics", true)
	require.Equal(s.t, http.StatusOK, code, body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(s.t, err)
	return fams
}

// writeWebConfig writes a self-signed certificate for 127.0.0.1 and an
// exporter-toolkit web configuration that serves it and asks user for
// pass; it returns the configuration's path and a pool trusting the
// certificate.
func writeWebConfig(t *testing.T, user, pass string) (string, *x509.CertPool) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ftm test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	require.NoError(t, err)
	cfg := "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  " + user + ": " + string(hash) + "\n"
	path := filepath.Join(dir, "web.yml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(certPEM))
	return path, pool
}

// A node serves its metrics over TLS with basic auth: refused without the
// password; with it, one valid exposition with the Go and process
// collectors, the commit, state transfer and control histograms, and
// /healthz and /readyz. When its partner stops, /readyz turns 503, the
// heartbeat age stays present and grows, and the takeover is observed.
func TestMetricsOverTLSWithBasicAuth(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := newPairDir(t, "n1", "n2")
	webCfg, pool := writeWebConfig(t, "prom", "s3cret")
	regs := []Registration{Server("counter", newCounter, Op(addOp))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Dir: dir, Name: "n1", Logger: zap.NewNop(), MetricsAddr: "127.0.0.1:0", WebConfigFile: webCfg}, regs...)
	}()
	defer func() { cancel(); require.NoError(t, <-done) }()
	stop2 := runNode(t, dir, "n2", regs)
	c1 := newTestClient(dir, "n1")
	var st control.Status
	eventually(t, "n1 and n2 protect both banks", func() bool {
		st = control.Status{} // a fresh value: decoding leaves omitted fields as they were
		return c1.do(http.MethodGet, "/status", nil, &st) == nil && st.Linked && backedUp(st.STM)
	})
	eventually(t, "n1 runs n1/counter", func() bool { _, err := c1.add("n1/counter", 1); return err == nil })
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	s := scraper{t: t, base: "https://" + st.MetricsAddr, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}, user: "prom", pass: "s3cret"}

	code, _ := s.get("/metrics", false)
	require.Equal(t, http.StatusUnauthorized, code, "no password, no metrics")
	fams := s.families()
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "ftm_node_info", "ftm_pair_heartbeat_age_seconds"} {
		require.Contains(t, fams, name)
	}
	require.Equal(t, dto.MetricType_HISTOGRAM, fams["ftm_stm_commit_duration_seconds"].GetType())
	require.Positive(t, histCount(fams["ftm_stm_commit_duration_seconds"], "n1"), "the counter's commits in bank n1")
	eventually(t, "heartbeats' round trips are timed", func() bool {
		return s.families()["ftm_pair_heartbeat_round_trip_seconds"].GetMetric()[0].GetHistogram().GetSampleCount() > 0
	})
	require.Positive(t, histCount(fams["ftm_stm_state_transfer_duration_seconds"], "n1"), "n1's bank was copied to n2")
	require.Positive(t, histCount(fams["ftm_control_request_duration_seconds"], "GET /status"))
	require.Positive(t, seriesCount(fams["ftm_rpc_duration_seconds"], "method=add,result=ok,server=n1/counter"), "the add that answered")
	require.Equal(t, dto.MetricType_COUNTER, fams["ftm_stm_bank_commits_refused_total"].GetType())
	require.Equal(t, 0.0, fams["ftm_stm_bank_unprotected"].GetMetric()[0].GetGauge().GetValue())
	require.Equal(t, http.StatusOK, first(s.get("/healthz", true)))
	require.Equal(t, http.StatusOK, first(s.get("/readyz", true)))

	require.NoError(t, stop2())
	eventually(t, "n1 took n2's bank over", func() bool {
		return histCount(s.families()["ftm_pair_takeover_duration_seconds"], "n2") == 1
	})
	code, body := s.get("/readyz", true)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "not linked to the partner")
	age := func() float64 {
		return s.families()["ftm_pair_heartbeat_age_seconds"].GetMetric()[0].GetGauge().GetValue()
	}
	a1 := age()
	eventually(t, "the heartbeat age grows while the link is down", func() bool { return age() > a1 })
}

func first(code int, _ string) int { return code }

// seriesCount is the sample count of family f's histogram whose labels,
// as name=value joined by commas in their order, are labels.
func seriesCount(f *dto.MetricFamily, labels string) uint64 {
	for _, m := range f.GetMetric() {
		var kv []string
		for _, l := range m.GetLabel() {
			kv = append(kv, l.GetName()+"="+l.GetValue())
		}
		if strings.Join(kv, ",") == labels {
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// histCount is the sample count of family f's histogram whose first label
// is value.
func histCount(f *dto.MetricFamily, value string) uint64 {
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == value {
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// A metrics address off the loopback is refused without a web
// configuration; a web configuration that does not parse is refused
// before the node starts.
func TestMetricsAddressChecks(t *testing.T) {
	err := Run(context.Background(), Config{Dir: t.TempDir(), Name: "n1", MetricsAddr: "0.0.0.0:0"})
	require.ErrorContains(t, err, "is not a loopback address")
	bad := filepath.Join(t.TempDir(), "web.yml")
	require.NoError(t, os.WriteFile(bad, []byte("tls_server_config: [\n"), 0o600))
	err = Run(context.Background(), Config{Dir: t.TempDir(), Name: "n1", MetricsAddr: "0.0.0.0:0", WebConfigFile: bad})
	require.ErrorContains(t, err, "--web-config-file")
}
