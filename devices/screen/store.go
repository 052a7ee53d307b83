package screen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ftm-in-go/ftm/stm"
)

// Store keeps a screen image durable. BankStore keeps it in STM; the
// interface is what the server needs, so the image can move onto the
// reliable-server framework without the server changing.
type Store interface {
	// Save stores the image's header and the rows changed since the
	// last Save (DirtyRows) in one transaction, then clears them.
	Save(ctx context.Context, im *Image) error
	// Load returns the stored image, or ErrNoImage.
	Load(ctx context.Context) (*Image, error)
	// Drop deletes the stored image (the program ended).
	Drop(ctx context.Context) error
}

// ErrNoImage is returned by Load when nothing was stored yet.
var ErrNoImage = errors.New("screen: no stored image")

// screens is the STM namespace naming each stored screen of a bank: name
// → its header object.
const screens = stm.Namespace("screen")

// stored is a screen's header object: the image without its cells, and
// the object of each row.
type stored struct {
	Image Image    `codec:"i"`
	Rows  []stm.ID `codec:"r"`
}

// BankStore keeps the image named name in an STM bank: a header object
// and one object per row, so a checkpoint ships only the rows that
// changed (with the header: cursor, modes, parser).
type BankStore struct {
	bank *stm.Bank
	name string
}

var _ Store = (*BankStore)(nil)

// NewBankStore returns the store of screen name in bank.
func NewBankStore(bank *stm.Bank, name string) *BankStore {
	return &BankStore{bank: bank, name: name}
}

// Save implements Store.
func (s *BankStore) Save(ctx context.Context, im *Image) error {
	err := s.bank.Update(ctx, func(tx *stm.Tx) error {
		id, st, err := s.header(tx)
		if err != nil {
			return err
		}
		rows := im.DirtyRows()
		if len(st.Rows) != im.H { // first save: one object per row
			st.Rows, rows = make([]stm.ID, im.H), allRows(im.H)
			for y := range st.Rows {
				if st.Rows[y], err = tx.Create(nil); err != nil {
					return err
				}
			}
		}
		for _, y := range rows {
			if err := tx.Put(st.Rows[y], encodeRow(im.Row(y))); err != nil {
				return err
			}
		}
		st.Image = *im
		st.Image.Cells = nil
		return stm.Set(tx, id, st)
	})
	if err != nil {
		return fmt.Errorf("screen: save %s: %w", s.name, err)
	}
	im.ClearDirty()
	return nil
}

// header returns the screen's header object, created on first use.
func (s *BankStore) header(tx *stm.Tx) (stm.ID, stored, error) {
	id, ok, err := screens.Lookup(tx, s.name)
	if err != nil {
		return 0, stored{}, err
	}
	if ok {
		st, err := stm.Get[stored](tx, id)
		return id, st, err
	}
	if id, err = screens.Bind(tx, s.name); err != nil {
		return 0, stored{}, err
	}
	return id, stored{}, stm.Set(tx, id, stored{})
}

func allRows(h int) []int {
	rows := make([]int, h)
	for i := range rows {
		rows[i] = i
	}
	return rows
}

// Load implements Store.
func (s *BankStore) Load(ctx context.Context) (*Image, error) {
	var im *Image
	err := s.bank.View(ctx, func(tx *stm.Tx) error {
		id, ok, err := screens.Lookup(tx, s.name)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoImage
		}
		st, err := stm.Get[stored](tx, id)
		if err != nil {
			return err
		}
		if len(st.Rows) != st.Image.H || st.Image.W < 1 || st.Image.W > MaxWidth || st.Image.H > MaxHeight {
			return fmt.Errorf("screen: stored image %s is damaged (%dx%d, %d rows)", s.name, st.Image.W, st.Image.H, len(st.Rows))
		}
		im = &st.Image
		im.Cells = make([]Cell, im.W*im.H)
		for y, rid := range st.Rows {
			data, err := tx.Bytes(rid)
			if err != nil {
				return err
			}
			decodeRow(data, im.Cells[y*im.W:(y+1)*im.W])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	im.repair()
	return im, nil
}

// Drop implements Store: the header, the rows and the directory entry go.
func (s *BankStore) Drop(ctx context.Context) error {
	return s.bank.Update(ctx, func(tx *stm.Tx) error {
		id, ok, err := screens.Lookup(tx, s.name)
		if err != nil || !ok {
			return err
		}
		st, err := stm.Get[stored](tx, id)
		if err != nil {
			return err
		}
		for _, rid := range st.Rows {
			if err := tx.Delete(rid); err != nil {
				return err
			}
		}
		if err := tx.Delete(id); err != nil {
			return err
		}
		return screens.Unbind(tx, s.name)
	})
}

// repair makes a loaded image safe to use whatever its header said:
// cursors on the screen, a valid region, tab stops and parser state.
func (im *Image) repair() {
	if len(im.Tabs) != im.W {
		im.Tabs = defaultTabs(im.W)
	}
	if im.Top < 0 || im.Bot >= im.H || im.Top >= im.Bot {
		im.Top, im.Bot = 0, im.H-1
	}
	for _, c := range []*Cursor{&im.Cur, &im.Saved} {
		c.X, c.Y = clamp(c.X, 0, im.W-1), clamp(c.Y, 0, im.H-1)
		c.WrapPending = c.WrapPending && c.X == im.W-1
	}
	if im.Parse.UTF8N < 0 || im.Parse.UTF8N > 3 || len(im.Parse.Params) > maxParams {
		im.Parse = Parser{}
	}
	im.dirty = make([]bool, im.H)
}

const cellBytes = 9

// encodeRow packs cells: rune (4 bytes), flags, foreground, background (2).
func encodeRow(cells []Cell) []byte {
	b := make([]byte, len(cells)*cellBytes)
	for i, c := range cells {
		o := b[i*cellBytes:]
		binary.LittleEndian.PutUint32(o, uint32(c.R))
		o[4] = byte(c.Pen.Flags)
		binary.LittleEndian.PutUint16(o[5:], c.Pen.FG)
		binary.LittleEndian.PutUint16(o[7:], c.Pen.BG)
	}
	return b
}

// decodeRow unpacks what encodeRow packed; missing cells are blank.
func decodeRow(b []byte, cells []Cell) {
	for i := range cells {
		if (i+1)*cellBytes > len(b) {
			cells[i] = blank(Pen{})
			continue
		}
		o := b[i*cellBytes:]
		cells[i] = Cell{R: rune(binary.LittleEndian.Uint32(o)), Pen: Pen{Flags: Flag(o[4]),
			FG: binary.LittleEndian.Uint16(o[5:]), BG: binary.LittleEndian.Uint16(o[7:])}}
	}
}
