package servers

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/ftm-in-go/ftm/stm"
)

// Method declares one operation of a server, once, usually at package
// level: its name, its attribute (Read or Update, §4.1), its request and
// reply types, and the errors it declares (their identity crosses the
// wire). The server registers its handler with Handle, the client calls it
// with Call: both are checked against Req and Resp by the compiler.
//
//	var Add = servers.NewMethod[AddReq, int64]("add", servers.Update)
//	servers.Handle(srv, Add, func(c *servers.Call, s *Store, r AddReq) (int64, error) { ... })
//	n, err := Add.At("kv").Call(ctx, client, AddReq{Key: "k", By: 1})
type Method[Req, Resp any] struct {
	decl   *methodDecl
	server string // the server At bound the method to ("": none)
}

// methodDecl is what a Method declares, shared by its bound copies.
type methodDecl struct {
	name     string
	op       Op
	declared []error
}

// NewMethod declares the method name of attribute op, which may return
// the errors declared (and any other error, which reaches the client as a
// *RemoteError with its message only). It panics if name is empty, a
// declared error is nil or two have the same message: a Method is a
// package-level contract.
func NewMethod[Req, Resp any](name string, op Op, declared ...error) Method[Req, Resp] {
	checkDeclared(name, declared)
	return Method[Req, Resp]{decl: &methodDecl{name: name, op: op, declared: declared}}
}

// Name is the method's name on the wire.
func (m Method[Req, Resp]) Name() string {
	if m.decl == nil {
		return ""
	}
	return m.decl.name
}

// Op is the method's attribute (Read for an undeclared Method).
func (m Method[Req, Resp]) Op() Op {
	if m.decl == nil {
		return Read
	}
	return m.decl.op
}

// Server is the persistent port name the method is bound to ("" if none).
func (m Method[Req, Resp]) Server() string { return m.server }

// RemoteError is the error a call of m to server answered with the
// handler's message msg and code, the code of the declared error it
// matched ("" if none): the *RemoteError Call returns, errors.Is matching
// its declared error. A client outside the node (package client) rebuilds
// its errors with it.
func (m Method[Req, Resp]) RemoteError(server, msg, code string) error {
	var declared []error
	if m.decl != nil {
		declared = m.decl.declared
	}
	return restore(declared, &RemoteError{Server: server, Method: m.Name(), Msg: msg, Code: code})
}

// At returns the method bound to the server named server (its persistent
// port name), for Call. Handle ignores the binding.
func (m Method[Req, Resp]) At(server string) Method[Req, Resp] {
	m.server = server
	return m
}

// Call calls the method of the server it is bound to through c: resolve,
// send, retry on a dead port or an aborted server RU with the same request
// id, decode the reply. An error the handler returned is a *RemoteError;
// errors.Is matches the declared error it carries.
func (m Method[Req, Resp]) Call(ctx context.Context, c *Client, req Req) (Resp, error) {
	var zero Resp
	if m.decl == nil || m.server == "" {
		return zero, fmt.Errorf("servers: call of an undeclared method or one not bound to a server (NewMethod, At)")
	}
	body, err := stm.Encode(req)
	if err != nil {
		return zero, err
	}
	out, err := c.call(ctx, m.server, m.decl.name, body)
	if err != nil {
		return zero, restore(m.decl.declared, err)
	}
	resp, err := decodeAny[Resp](out)
	if err != nil {
		return zero, fmt.Errorf("%s.%s: %w", m.server, m.decl.name, err)
	}
	return resp, nil
}

// handler is a registered method, typed down to bytes.
type handler[S any] struct {
	op       Op
	declared []error
	fn       func(c *Call, s *S, body []byte) ([]byte, error)
}

// Handle registers fn as the handler of m on srv. fn runs in the server's
// recovery unit with exclusive access to the state. A method registered
// twice, or a request or reply type that would lose values on the wire
// (checkType), makes Run fail.
func Handle[S, Req, Resp any](srv *Server[S], m Method[Req, Resp], fn func(c *Call, s *S, req Req) (Resp, error)) {
	if err := checkMethod[Req, Resp](srv, m); err != nil {
		srv.setupErr = errors.Join(srv.setupErr, err)
		return
	}
	srv.methods[m.decl.name] = &handler[S]{op: m.decl.op, declared: m.decl.declared,
		fn: func(c *Call, s *S, body []byte) ([]byte, error) {
			req, err := decodeAny[Req](body)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", errBadRequest, err)
			}
			resp, err := fn(c, s, req)
			if err != nil {
				return nil, err
			}
			return stm.Encode(resp)
		}}
}

// checkMethod refuses a registration Handle cannot honour.
func checkMethod[Req, Resp any, S any](srv *Server[S], m Method[Req, Resp]) error {
	if m.decl == nil {
		return fmt.Errorf("servers: %s: Handle of an undeclared method (NewMethod)", srv.cfg.Name)
	}
	if srv.methods[m.decl.name] != nil {
		return fmt.Errorf("servers: %s: method %q registered twice", srv.cfg.Name, m.decl.name)
	}
	const where = "on the wire"
	err := checkType(reflect.TypeFor[Req](), "request", where)
	if err == nil {
		err = checkType(reflect.TypeFor[Resp](), "reply", where)
	}
	if err != nil {
		return fmt.Errorf("%w (method %s of %s)", err, m.decl.name, srv.cfg.Name)
	}
	return nil
}
