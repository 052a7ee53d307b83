package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ftm-in-go/ftm/node/control"
)

// errFlagRange is a flag value outside the range the command can act on.
var errFlagRange = errors.New("flag out of range")

// validate refuses pair up's options before anything is written or
// started: two different plain node names (their files stay inside
// --dir) and a positive heartbeat period.
func (o pairUpOptions) validate() error {
	if err := o.checkNames(); err != nil {
		return err
	}
	for _, n := range o.names {
		if err := control.CheckNodeName(n); err != nil {
			return fmt.Errorf("--nodes: %w", err)
		}
	}
	if len(o.addrs) > 0 && len(o.addrs) != len(o.names) {
		return fmt.Errorf("--addrs needs one address per node (%d), got %v", len(o.names), o.addrs)
	}
	return positive("--heartbeat", o.heartbeat)
}

// checkMetrics refuses a metrics address off the loopback unless a web
// configuration protects it, and a web configuration without an address
// or that is not a readable file; it makes the file's path absolute (the
// nodes run elsewhere).
func (o *pairUpOptions) checkMetrics() error {
	if o.webConfig == "" {
		return checkLoopback(o.metricsAddr)
	}
	if o.metricsAddr == "" {
		return errors.New("--web-config-file needs --metrics-addr")
	}
	abs, err := filepath.Abs(o.webConfig)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		return fmt.Errorf("--web-config-file: %w", err)
	}
	o.webConfig = abs
	return nil
}

// positive refuses a duration flag that is zero or negative.
func positive(flag string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: %s must be positive, got %s", errFlagRange, flag, d)
	}
	return nil
}

// firstError is the first non-nil of errs: one refusal, one line.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
