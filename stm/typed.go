package stm

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// msgpackHandle encodes typed stable objects.
var msgpackHandle = &codec.MsgpackHandle{}

// Encoders and decoders are reused: building one per call costs more
// than encoding a small object (the call path encodes several per call).
var (
	encoders = sync.Pool{New: func() any { return codec.NewEncoderBytes(nil, msgpackHandle) }}
	decoders = sync.Pool{New: func() any { return codec.NewDecoderBytes(nil, msgpackHandle) }}
)

// Encode returns the msgpack encoding of v, the form a typed object takes
// in the banks.
func Encode[T any](v T) ([]byte, error) {
	var buf []byte
	enc := encoders.Get().(*codec.Encoder)
	enc.ResetBytes(&buf)
	err := enc.Encode(v)
	enc.ResetBytes(nil) // keep no reference to buf in the pool
	encoders.Put(enc)
	if err != nil {
		return nil, fmt.Errorf("stm: encode %T: %w", v, err)
	}
	return buf, nil
}

// Decode decodes a typed object's bytes.
func Decode[T any](data []byte) (T, error) {
	var v T
	dec := decoders.Get().(*codec.Decoder)
	dec.ResetBytes(data)
	err := dec.Decode(&v)
	dec.ResetBytes(nil) // keep no reference to data in the pool
	decoders.Put(dec)
	if err != nil {
		return v, fmt.Errorf("stm: decode %T: %w", v, err)
	}
	return v, nil
}

// Get reads a typed object.
func Get[T any](tx *Tx, id ID) (T, error) {
	data, err := tx.Bytes(id)
	if err != nil {
		var zero T
		return zero, err
	}
	return Decode[T](data)
}

// Set writes a typed object, creating it if needed.
func Set[T any](tx *Tx, id ID, v T) error {
	data, err := Encode(v)
	if err != nil {
		return err
	}
	return tx.Put(id, data)
}

// Create creates a typed object at a fresh id.
func Create[T any](tx *Tx, v T) (ID, error) {
	data, err := Encode(v)
	if err != nil {
		return 0, err
	}
	return tx.Create(data)
}

// Var is a typed handle on one stable object.
type Var[T any] struct{ ID ID }

// Get reads the variable in tx.
func (v Var[T]) Get(tx *Tx) (T, error) { return Get[T](tx, v.ID) }

// Set writes the variable in tx.
func (v Var[T]) Set(tx *Tx, x T) error { return Set(tx, v.ID, x) }

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
