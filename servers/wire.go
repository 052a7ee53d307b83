package servers

import (
	"errors"
	"fmt"
	"time"

	"github.com/ftm-in-go/ftm/servers/ru"
	"github.com/ftm-in-go/ftm/stm"
)

// Message ids on server and protocol ports.
const (
	msgRequest  uint32 = 0x5e7e0001
	msgReply    uint32 = 0x5e7e0002
	msgEnvelope uint32 = 0x5e7e0003
)

// maxRequest bounds a request or reply body a server accepts.
const maxRequest = 16 << 20

// request is the body of a call: the header the reliable RPC path needs,
// then the msgpack-encoded argument.
type request struct {
	Method string
	Client string // duplicate-table key: the client's stable id
	Seq    uint64 // request number, the same on every retry
	Low    uint64 // every request of Client below Low was answered (prunes the table)
	RU     ru.ID  // the caller's recovery unit; zero for an external client
	Host   string // the caller's protocol host key, to route protocol messages
	// Timeout is the time left to the caller's deadline when the request
	// was sent (0: none); the handler's context ends after it (deadline.go).
	Timeout time.Duration `codec:",omitempty"`
	Body    []byte
}

// Reply status.
const (
	statusOK       uint8 = iota
	statusAppError       // the handler returned an error (Err)
	statusRetry          // the server's RU aborted or it restarted: retry the same request
	statusBad            // malformed request or unknown method: do not retry
)

type reply struct {
	Status   uint8
	Err      string
	Code     string `codec:",omitempty"` // statusAppError: the declared error Err matched ("" if none)
	Seq      uint64
	ServerRU ru.ID
	Host     string
	Deps     ru.Deps
	Body     []byte
}

// errBadRequest wraps every decoding failure of a request.
var errBadRequest = errors.New("servers: malformed request")

// decodeRequest decodes and checks a request body; it never panics.
func decodeRequest(b []byte) (req request, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errBadRequest, r)
		}
	}()
	if len(b) == 0 || len(b) > maxRequest {
		return request{}, fmt.Errorf("%w: body of %d bytes", errBadRequest, len(b))
	}
	req, err = stm.Decode[request](b)
	if err != nil {
		return request{}, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	if req.Method == "" || req.Client == "" || req.Seq == 0 {
		return request{}, fmt.Errorf("%w: missing method, client or sequence number", errBadRequest)
	}
	return req, nil
}

// decodeAny decodes msgpack data into a T without panicking.
func decodeAny[T any](b []byte) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("servers: decode %T: %v", v, r)
		}
	}()
	return stm.Decode[T](b)
}
