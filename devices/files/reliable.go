package files

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/kernel/failpoint"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/stm"
)

// SaveReq is a save: path's new content.
type SaveReq struct {
	Path string
	Data []byte
}

// The file server's operations, declared once: a program calls them
// through its recovery unit's client, bound to the server's name (At).
// Both are Updates (§4.1): the caller's RU and the server's depend on each
// other. A save without a backup bank fails with stm.ErrNoBackup, on any
// node.
var (
	OpenFile = servers.NewMethod[string, []byte]("open", servers.Update)
	SaveFile = servers.NewMethod[SaveReq, uint64]("save", servers.Update, stm.ErrNoBackup)
)

// State is the file server's state in its recovery unit: the generation
// of the last save of each path acknowledged in the RU. The files' content
// is not in it: a save is output, committed in its own transaction before
// it is acknowledged (doc.go).
type State struct {
	Saved map[string]uint64 `codec:"s"`
}

// ReliableConfig configures the file server's recovery unit.
type ReliableConfig struct {
	Name      string          // persistent port name and unit name, unique in the system
	Driver    *servers.Driver // runs the unit; its bank keeps the open files
	Failpoint failpoint.Hook  // at each step of a save's write (Failpoints); nil in production
	Logger    *zap.Logger
}

// Reliable is the file server as a reliable server of package servers: a
// kernel port (Name), a recovery unit, and dependencies recorded on every
// call.
type Reliable struct {
	fs  *Server
	srv *servers.Server[State]
}

// NewReliable returns the reliable file server over cfg.Driver's bank;
// Run serves it.
func NewReliable(cfg ReliableConfig) (*Reliable, error) {
	if cfg.Driver == nil || cfg.Name == "" {
		return nil, fmt.Errorf("files: a reliable file server needs a Driver and a Name")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	r := &Reliable{fs: New(Config{Bank: cfg.Driver.Bank(), Failpoint: cfg.Failpoint,
		Logger: cfg.Logger.With(zap.String("files", cfg.Name))})}
	srv, err := servers.NewServer(servers.Config{Name: cfg.Name, Driver: cfg.Driver, Logger: cfg.Logger},
		func() State { return State{Saved: map[string]uint64{}} })
	if err != nil {
		return nil, err
	}
	servers.Handle(srv, OpenFile, r.open)
	servers.Handle(srv, SaveFile, r.save)
	srv.SetHooks(servers.Hooks[State]{Restart: func(st *State) {
		if st.Saved == nil {
			st.Saved = map[string]uint64{}
		}
	}})
	r.srv = srv
	return r, nil
}

// Files is the file store the server keeps its open files in (Recover it
// after a takeover, before Run).
func (r *Reliable) Files() *Server { return r.fs }

// Run serves until ctx ends (servers.Server.Run). It first redoes the
// saves a previous holder of the bank committed but may not have written.
func (r *Reliable) Run(ctx context.Context) error {
	if err := r.fs.Recover(ctx); err != nil {
		r.fs.log.Warn("could not finish the saves of the last holder", zap.Error(err))
	}
	return r.srv.Run(ctx)
}

// Checkpoint takes a checkpoint of the server's recovery unit.
func (r *Reliable) Checkpoint(ctx context.Context) error { return r.srv.Checkpoint(ctx) }

func (r *Reliable) open(c *servers.Call, _ *State, path string) ([]byte, error) {
	return r.fs.Open(c.Context(), path)
}

// save commits the save and writes it to disk before it answers: the
// caller is told "saved" only once the content is in the bank (and its
// backup) and on disk.
func (r *Reliable) save(c *servers.Call, st *State, req SaveReq) (uint64, error) {
	if err := r.fs.Save(c.Context(), req.Path, req.Data); err != nil {
		return 0, err
	}
	if st.Saved == nil {
		st.Saved = map[string]uint64{}
	}
	st.Saved[req.Path]++
	return st.Saved[req.Path], nil
}
