package screen

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/stm"
)

// Output is what a program draws on the screen named Screen.
type Output struct {
	Screen string
	Data   []byte
}

// The screen server's operations, declared once. Both are Updates (§4.1):
// the caller's RU and the screen server's depend on each other, so the
// caller's checkpoint commits the image it drew and an abort of either
// rolls both back. Bind them to the server's name (At).
var (
	// Write interprets the output into the screen's image and forwards
	// it to the screen's attached terminals.
	Write = servers.NewMethod[Output, int]("write", servers.Update, ErrNoScreen)
	// Forget deletes a screen's image: its program ended for good.
	Forget = servers.NewMethod[string, struct{}]("forget", servers.Update)
)

// ErrNoScreen is returned by Write for a screen that has no device on the
// node running the server.
var ErrNoScreen = errors.New("screen: no such screen on this node")

// State is the screen server's state in its recovery unit: its screens
// by name, and row objects to delete.
type State struct {
	Screens map[string]*Stored `codec:"s"`
	Drop    []uint64           `codec:"d"` // row objects of forgotten screens, deleted at the next precommit
}

// Stored is one screen in the server's state. The image's cells are not
// in it: each row is an STM object of its own, written only when the row
// changed in the RU, in the transaction that precommits the state into
// the checkpoint's group (so rows and header commit or abort together
// with the rest of the atomic action).
type Stored struct {
	Image *Image   `codec:"i"` // cells kept in the row objects
	Rows  []uint64 `codec:"r"` // the STM object of each row (empty before the first precommit)
	// Pending holds the rows changed in the current RU, encoded, until
	// they become row objects; they stay here only when the RU committed
	// without a precommit (a lone checkpoint).
	Pending map[int][]byte `codec:"p"`
}

// ReliableConfig configures the screen server's recovery unit.
type ReliableConfig struct {
	Name   string          // persistent port name and unit name, unique in the system
	Driver *servers.Driver // runs the unit; its bank keeps the state and the rows
	// Screens returns the screen (device) named name on this node, nil
	// if there is none (One serves a single screen).
	Screens func(name string) *Server
	Logger  *zap.Logger
}

// One is ReliableConfig.Screens for a server of the single screen dev
// (any name).
func One(dev *Server) func(string) *Server { return func(string) *Server { return dev } }

// Reliable is the screen server as a reliable server of package servers:
// a kernel port (Name), a recovery unit, and dependencies recorded on
// every call. It draws on devices (Server built without a Store: the
// unit keeps their images), whose terminals (Serve) and keyboard input
// stay local to the node running it.
type Reliable struct {
	name    string
	bank    *stm.Bank
	log     *zap.Logger
	screens func(string) *Server
	srv     *servers.Server[State]
}

// NewReliable returns a reliable screen server; Run serves it.
func NewReliable(cfg ReliableConfig) (*Reliable, error) {
	if cfg.Driver == nil || cfg.Name == "" || cfg.Screens == nil {
		return nil, fmt.Errorf("screen: a reliable screen server needs a Driver, a Name and its Screens")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	r := &Reliable{name: cfg.Name, bank: cfg.Driver.Bank(), log: cfg.Logger.With(zap.String("screen", cfg.Name)),
		screens: cfg.Screens}
	srv, err := servers.NewServer(servers.Config{Name: cfg.Name, Driver: cfg.Driver, Logger: cfg.Logger},
		func() State { return State{} })
	if err != nil {
		return nil, err
	}
	servers.Handle(srv, Write, r.write)
	servers.Handle(srv, Forget, r.forget)
	servers.SetPrecommitWrites(srv, r.writeRows)
	srv.SetHooks(servers.Hooks[State]{Restart: r.restore, BeforeCheckpoint: r.takeDirty})
	r.srv = srv
	return r, nil
}

// Name is the server's (and its unit's) name.
func (r *Reliable) Name() string { return r.name }

// Run restores the images from their last committed checkpoint and
// serves until ctx ends (servers.Server.Run).
func (r *Reliable) Run(ctx context.Context) error { return r.srv.Run(ctx) }

// Checkpoint takes a checkpoint of the server's recovery unit.
func (r *Reliable) Checkpoint(ctx context.Context) error { return r.srv.Checkpoint(ctx) }

// write is the Write handler.
func (r *Reliable) write(_ *servers.Call, st *State, out Output) (int, error) {
	dev := r.screens(out.Screen)
	if dev == nil || dev.store != nil {
		return 0, fmt.Errorf("%w: %q", ErrNoScreen, out.Screen)
	}
	if st.Screens == nil {
		st.Screens = map[string]*Stored{}
	}
	sc := st.Screens[out.Screen]
	if sc != nil && !sc.loaded() && !r.load(sc) { // reloaded without the Restart hook (it runs later)
		delete(st.Screens, out.Screen)
		sc = nil
	}
	dev.mu.Lock()
	switch {
	case sc == nil: // the first write of the screen's life
		sc = &Stored{Image: dev.im}
		sc.Image.markRows(0, sc.Image.H-1)
		st.Screens[out.Screen] = sc
	case sc.Image != dev.im: // a device made after the unit restored the image
		dev.im, dev.restored = sc.Image, true
	}
	dev.mu.Unlock()
	return dev.Write(out.Data)
}

// forget is the Forget handler.
func (r *Reliable) forget(_ *servers.Call, st *State, name string) (struct{}, error) {
	if sc := st.Screens[name]; sc != nil {
		st.Drop = append(st.Drop, sc.Rows...)
		delete(st.Screens, name)
	}
	return struct{}{}, nil
}

// takeDirty moves the rows changed since the last checkpoint into
// Pending (BeforeCheckpoint: before S is precommitted or committed).
func (r *Reliable) takeDirty(st *State) {
	for name, sc := range st.Screens {
		dev := r.screens(name)
		if dev != nil {
			dev.mu.Lock()
		}
		sc.takeDirty()
		if dev != nil {
			dev.mu.Unlock()
		}
	}
}

func (sc *Stored) takeDirty() {
	im := sc.Image
	if !sc.loaded() { // as committed: nothing changed since
		return
	}
	rows := im.DirtyRows()
	if len(sc.Rows) != im.H {
		rows = allRows(im.H)
	}
	if len(rows) > 0 && sc.Pending == nil {
		sc.Pending = make(map[int][]byte, len(rows))
	}
	for _, y := range rows {
		sc.Pending[y] = encodeRow(im.Row(y))
	}
	im.ClearDirty()
}

// writeRows makes the pending rows row objects and deletes the rows of
// forgotten screens, in the transaction that precommits S into the
// checkpoint's group.
func (r *Reliable) writeRows(tx *stm.Tx, st *State) error {
	for _, id := range st.Drop {
		if err := tx.Delete(stm.ID(id)); err != nil && !errors.Is(err, stm.ErrNotFound) {
			return fmt.Errorf("screen: %s: delete a row: %w", r.name, err)
		}
	}
	st.Drop = nil
	for name, sc := range st.Screens {
		if err := sc.writeRows(tx); err != nil {
			return fmt.Errorf("screen: %s: %s: %w", r.name, name, err)
		}
	}
	return nil
}

func (sc *Stored) writeRows(tx *stm.Tx) error {
	if sc.Image == nil || len(sc.Pending) == 0 {
		return nil
	}
	if len(sc.Rows) != sc.Image.H {
		sc.Rows = make([]uint64, sc.Image.H)
		for y := range sc.Rows {
			id, err := tx.Create(nil)
			if err != nil {
				return fmt.Errorf("row %d: %w", y, err)
			}
			sc.Rows[y] = uint64(id)
		}
	}
	ys := make([]int, 0, len(sc.Pending))
	for y := range sc.Pending {
		ys = append(ys, y)
	}
	slices.Sort(ys)
	for _, y := range ys {
		if y < 0 || y >= len(sc.Rows) {
			continue
		}
		if err := tx.Put(stm.ID(sc.Rows[y]), sc.Pending[y]); err != nil {
			return fmt.Errorf("row %d: %w", y, err)
		}
	}
	clear(sc.Pending)
	return nil
}

// restore runs after S was reloaded from STM (a restart, or an abort of
// the unit's RU): each image's cells are read back from its row objects
// and pending rows, and its device shows the restored image.
func (r *Reliable) restore(st *State) {
	for name, sc := range st.Screens {
		if !r.load(sc) {
			r.log.Warn("stored screen image is damaged: forgotten", zap.String("name", name))
			delete(st.Screens, name)
			continue
		}
		if dev := r.screens(name); dev != nil && dev.store == nil {
			dev.setImage(sc.Image, true)
		}
	}
}

// loaded reports whether sc's image has its cells (a state just decoded
// from STM has not).
func (sc *Stored) loaded() bool {
	return sc.Image != nil && sc.Image.W > 0 && len(sc.Image.Cells) == sc.Image.W*sc.Image.H
}

// load fills sc's image with its rows; false if the image is damaged.
func (r *Reliable) load(sc *Stored) bool {
	im := sc.Image
	if im == nil || im.W < 1 || im.W > MaxWidth || im.H < 1 || im.H > MaxHeight {
		return false
	}
	im.Cells = New(im.W, im.H).Cells
	if len(sc.Rows) == im.H {
		if err := r.readRows(sc); err != nil {
			r.log.Warn("cannot read a screen's rows", zap.Error(err))
		}
	}
	for y, data := range sc.Pending {
		if y >= 0 && y < im.H {
			decodeRow(data, im.Row(y))
		}
	}
	im.repair()
	return true
}

// readRows reads sc's row objects into its image, again while a
// concurrent commit (a checkpoint's group decided after a takeover)
// changed them under the read.
func (r *Reliable) readRows(sc *Stored) error {
	im := sc.Image
	var err error
	for attempt := 0; attempt < 100; attempt++ {
		err = r.bank.View(context.Background(), func(tx *stm.Tx) error {
			for y, id := range sc.Rows {
				data, err := tx.Bytes(stm.ID(id))
				if err != nil {
					return err
				}
				decodeRow(data, im.Row(y))
			}
			return nil
		})
		if !errors.Is(err, stm.ErrConflict) {
			return err
		}
	}
	return err
}
