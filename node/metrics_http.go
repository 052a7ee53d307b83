package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ftm-in-go/ftm/node/control"
	"github.com/ftm-in-go/ftm/pair"
)

// metricsServer is where the node serves /metrics, /healthz and /readyz
// over HTTP: a loopback address, or any address when a web configuration
// file (exporter-toolkit's format: TLS, basic auth) protects it.
type metricsServer struct {
	addr      string
	webConfig string // path of the web configuration file ("" : plain HTTP)
}

// check refuses an address off the loopback without a web configuration,
// and a web configuration that does not parse.
func (s metricsServer) check() error {
	if s.webConfig == "" {
		return control.CheckLoopback(s.addr)
	}
	if err := web.Validate(s.webConfig); err != nil {
		return fmt.Errorf("--web-config-file %s: %w", s.webConfig, err)
	}
	return nil
}

// serve serves the node's HTTP endpoints on s until the returned func is
// called.
func (m *nodeMetrics) serve(s metricsServer) (func(), error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	m.mu.Lock()
	m.listen = l.Addr().String()
	m.mu.Unlock()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", m.serveReady)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	cfgFile := s.webConfig
	go func() {
		err := web.Serve(l, srv, &web.FlagConfig{WebConfigFile: &cfgFile}, slog.New(zapHandler{log: m.rt.log}))
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.rt.log.Error("metrics server failed", zap.Error(err))
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// serveReady answers 200 while the node protects every bank it holds
// (linked, each primary's backup attached, each backup a complete copy),
// else 503 with the reason: /healthz says the process answers, /readyz that
// a failure of either node now would lose nothing.
func (m *nodeMetrics) serveReady(w http.ResponseWriter, _ *http.Request) {
	if why := m.unready(); why != "" {
		http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// unready says why the node does not protect its banks ("" if it does).
func (m *nodeMetrics) unready() string {
	if !m.rt.pair.Status().Linked {
		return "not linked to the partner"
	}
	var why []string
	for _, b := range m.rt.stable.Status().Banks {
		switch {
		case b.Role == pair.RoleBackup && !b.Ready:
			why = append(why, "backup of bank "+b.Name+" still copying")
		case b.Role != pair.RoleBackup && b.CommitsRefused:
			why = append(why, "bank "+b.Name+" has no backup")
		}
	}
	return strings.Join(why, "; ")
}

// zapHandler is a slog.Handler that logs through zap (exporter-toolkit
// logs through slog).
type zapHandler struct {
	log   *zap.Logger
	attrs []zap.Field
}

// Enabled reports whether zap logs at level.
func (h zapHandler) Enabled(_ context.Context, level slog.Level) bool {
	return h.log.Core().Enabled(zapLevel(level))
}

// Handle logs r with its attributes as fields.
func (h zapHandler) Handle(_ context.Context, r slog.Record) error {
	fields := append([]zap.Field{zap.String("component", "metrics-http")}, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		fields = append(fields, zap.Any(a.Key, a.Value.Any()))
		return true
	})
	if ce := h.log.Check(zapLevel(r.Level), r.Message); ce != nil {
		ce.Write(fields...)
	}
	return nil
}

// WithAttrs returns a handler that adds attrs to every record.
func (h zapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := zapHandler{log: h.log, attrs: append([]zap.Field(nil), h.attrs...)}
	for _, a := range attrs {
		out.attrs = append(out.attrs, zap.Any(a.Key, a.Value.Any()))
	}
	return out
}

// WithGroup returns h: groups are flattened.
func (h zapHandler) WithGroup(string) slog.Handler { return h }

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	case l >= slog.LevelInfo:
		return zapcore.InfoLevel
	}
	return zapcore.DebugLevel
}
