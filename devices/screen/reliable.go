package screen

import (
	"context"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/stm"
)

// Write is the screen server's one operation: the program's output,
// interpreted into the image and forwarded to the attached terminals. It
// is an Update (§4.1): the caller's RU and the screen's RU depend on each
// other, so the caller's checkpoint commits the image it drew and an
// abort of either rolls both back. Bind it to the server's name (At).
var Write = servers.NewMethod[[]byte, int]("write", servers.Update)

// State is the screen server's state in its recovery unit. The image's
// cells are not in it: each row is an STM object of its own, written only
// when the row changed in the RU, in the transaction that precommits the
// state into the checkpoint's group (so rows and header commit or abort
// together with the rest of the atomic action).
type State struct {
	// Image is the screen (nil before the first write). Its cells are
	// kept in the row objects, not in the state's encoding.
	Image *Image `codec:"i"`
	// Rows is the STM object of each row (empty before the first
	// precommit).
	Rows []uint64 `codec:"r"`
	// Pending holds the rows changed in the current RU, encoded, until
	// they become row objects; they stay here only when the RU committed
	// without a precommit (a lone checkpoint).
	Pending map[int][]byte `codec:"p"`
}

// ReliableConfig configures the screen's recovery unit.
type ReliableConfig struct {
	Name   string          // persistent port name and unit name, unique in the system
	Driver *servers.Driver // runs the unit; its bank keeps the state and the rows
	Logger *zap.Logger
}

// Reliable is a screen server as a reliable server of package servers: a
// kernel port (Name), a recovery unit, and dependencies recorded on every
// Write. It draws on dev, whose terminals (Serve) and keyboard input stay
// local to the node running it.
type Reliable struct {
	dev  *Server
	name string
	bank *stm.Bank
	log  *zap.Logger
	srv  *servers.Server[State]
}

// NewReliable returns the reliable screen server of dev (a Server built
// without a Store: the unit keeps the image); Run serves it.
func NewReliable(dev *Server, cfg ReliableConfig) (*Reliable, error) {
	if dev == nil || cfg.Driver == nil || cfg.Name == "" {
		return nil, fmt.Errorf("screen: a reliable screen server needs a screen, a Driver and a Name")
	}
	if dev.store != nil {
		return nil, fmt.Errorf("screen: %s: a reliable screen keeps its image in its unit, not in a Store", cfg.Name)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	r := &Reliable{dev: dev, name: cfg.Name, bank: cfg.Driver.Bank(), log: cfg.Logger.With(zap.String("screen", cfg.Name))}
	srv, err := servers.NewServer(servers.Config{Name: cfg.Name, Driver: cfg.Driver, Logger: cfg.Logger},
		func() State { return State{} })
	if err != nil {
		return nil, err
	}
	servers.Handle(srv, Write, r.write)
	servers.SetPrecommitWrites(srv, r.writeRows)
	srv.SetHooks(servers.Hooks[State]{Restart: r.restore, BeforeCheckpoint: r.takeDirty})
	r.srv = srv
	return r, nil
}

// Name is the server's (and its unit's) name.
func (r *Reliable) Name() string { return r.name }

// Run restores the image from its last committed checkpoint (or starts
// blank) and serves until ctx ends (servers.Server.Run).
func (r *Reliable) Run(ctx context.Context) error { return r.srv.Run(ctx) }

// write is the Write handler.
func (r *Reliable) write(_ *servers.Call, st *State, p []byte) (int, error) {
	r.dev.mu.Lock()
	if st.Image == nil { // the first write of the screen's life
		st.Image = r.dev.im
		st.Image.markRows(0, st.Image.H-1)
	}
	r.dev.mu.Unlock()
	return r.dev.Write(p)
}

// takeDirty moves the rows changed since the last checkpoint into
// Pending (BeforeCheckpoint: before S is precommitted or committed).
func (r *Reliable) takeDirty(st *State) {
	if st.Image == nil {
		return
	}
	r.dev.mu.Lock()
	defer r.dev.mu.Unlock()
	im := st.Image
	rows := im.DirtyRows()
	if len(st.Rows) != im.H {
		rows = allRows(im.H)
	}
	if len(rows) > 0 && st.Pending == nil {
		st.Pending = make(map[int][]byte, len(rows))
	}
	for _, y := range rows {
		st.Pending[y] = encodeRow(im.Row(y))
	}
	im.ClearDirty()
}

// writeRows makes the pending rows row objects, in the transaction that
// precommits S into the checkpoint's group.
func (r *Reliable) writeRows(tx *stm.Tx, st *State) error {
	if st.Image == nil || len(st.Pending) == 0 {
		return nil
	}
	if len(st.Rows) != st.Image.H {
		st.Rows = make([]uint64, st.Image.H)
		for y := range st.Rows {
			id, err := tx.Create(encodeRow(make([]Cell, 0)))
			if err != nil {
				return fmt.Errorf("screen: %s row %d: %w", r.name, y, err)
			}
			st.Rows[y] = uint64(id)
		}
	}
	ys := make([]int, 0, len(st.Pending))
	for y := range st.Pending {
		ys = append(ys, y)
	}
	slices.Sort(ys)
	for _, y := range ys {
		if y < 0 || y >= len(st.Rows) {
			continue
		}
		if err := tx.Put(stm.ID(st.Rows[y]), st.Pending[y]); err != nil {
			return fmt.Errorf("screen: %s row %d: %w", r.name, y, err)
		}
	}
	clear(st.Pending)
	return nil
}

// restore runs after S was reloaded from STM (a restart, or an abort of
// the unit's RU): the image's cells are read back from the row objects
// and the pending rows, and the screen shows the restored image.
func (r *Reliable) restore(st *State) {
	if st.Image == nil {
		r.dev.setImage(New(r.dev.Size()), false)
		return
	}
	im := st.Image
	if im.W < 1 || im.W > MaxWidth || im.H < 1 || im.H > MaxHeight {
		r.log.Warn("stored screen image is damaged: starting blank", zap.Int("width", im.W), zap.Int("height", im.H))
		st.Image, st.Rows, st.Pending = nil, nil, nil
		r.dev.setImage(New(r.dev.Size()), false)
		return
	}
	im.Cells = New(im.W, im.H).Cells
	if len(st.Rows) == im.H {
		err := r.bank.View(context.Background(), func(tx *stm.Tx) error {
			for y, id := range st.Rows {
				data, err := tx.Bytes(stm.ID(id))
				if err != nil {
					return err
				}
				decodeRow(data, im.Row(y))
			}
			return nil
		})
		if err != nil {
			r.log.Warn("cannot read the screen's rows", zap.Error(err))
		}
	}
	for y, data := range st.Pending {
		if y >= 0 && y < im.H {
			decodeRow(data, im.Row(y))
		}
	}
	im.repair()
	r.dev.setImage(im, true)
	r.log.Debug("screen image restored", zap.Int("width", im.W), zap.Int("height", im.H))
}
