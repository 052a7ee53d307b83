package servers

import (
	"errors"
	"fmt"
)

// ErrBadRequest is returned for a request the server could not decode or
// a method it does not have.
var ErrBadRequest = errors.New("servers: bad request")

// RemoteError is an error a server's handler returned, as the client sees
// it. When the handler's error matches (errors.Is) one of the errors its
// Method declares, the reply carries that error's code and the client
// restores it: errors.Is(err, kv.ErrNoKey) is true on the client, on any
// node. Any other error arrives with its message only.
type RemoteError struct {
	Server, Method, Msg string
	Code                string // the declared error's code; "" if none matched

	declared error // the declared error of Code, restored by Method.Call
}

// Error is "server.method: message".
func (e *RemoteError) Error() string { return fmt.Sprintf("%s.%s: %s", e.Server, e.Method, e.Msg) }

// Unwrap returns the declared error the handler's error matched (nil if
// none), so that errors.Is sees it.
func (e *RemoteError) Unwrap() error { return e.declared }

// errorCode is the code a declared error travels as: its message, the
// same wherever the declaring package is built (NewMethod refuses two
// declared errors of one method with the same message).
func errorCode(declared error) string { return declared.Error() }

// codeOf returns the code of the first declared error err matches, or "".
func codeOf(declared []error, err error) string {
	for _, d := range declared {
		if errors.Is(err, d) {
			return errorCode(d)
		}
	}
	return ""
}

// restore gives a client's *RemoteError the identity of the declared
// error its code names; err is returned unchanged otherwise.
func restore(declared []error, err error) error {
	var re *RemoteError
	if !errors.As(err, &re) || re.Code == "" {
		return err
	}
	if re.Code == errorCode(ErrHandlerPanicked) {
		re.declared = ErrHandlerPanicked
		return err
	}
	for _, d := range declared {
		if errorCode(d) == re.Code {
			re.declared = d
			break
		}
	}
	return err
}

// checkDeclared panics on an empty method name, a nil declared error or
// two with one code: a Method is declared at package level, and its name
// and errors are its contract.
func checkDeclared(method string, declared []error) {
	if method == "" {
		panic("servers: a method needs a name")
	}
	seen := map[string]bool{}
	for _, d := range declared {
		if d == nil {
			panic(fmt.Sprintf("servers: method %q declares a nil error", method))
		}
		if seen[errorCode(d)] {
			panic(fmt.Sprintf("servers: method %q declares two errors with the code %q", method, errorCode(d)))
		}
		seen[errorCode(d)] = true
	}
}
