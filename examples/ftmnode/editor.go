package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/devices/files"
	"github.com/ftm-in-go/ftm/devices/screen"
	"github.com/ftm-in-go/ftm/examples/editor/session"
	"github.com/ftm-in-go/ftm/node"
	"github.com/ftm-in-go/ftm/task"
)

// editProgram is the name the editor runs under as a stable task.
const editProgram = "edit"

// screenUpgrade is the protocol an attach request upgrades its
// connection to (devices/screen frames).
const screenUpgrade = "ftm-screen"

// editors are the screen servers of the editing sessions a node runs,
// by session name (a session restarted after a takeover registers again
// on the survivor).
type editors struct {
	mu       sync.Mutex
	sessions map[string]*screen.Server
}

var nodeEditors = &editors{sessions: map[string]*screen.Server{}}

func (e *editors) register(name string, s *screen.Server) func() {
	e.mu.Lock()
	e.sessions[name] = s
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		if e.sessions[name] == s {
			delete(e.sessions, name)
		}
		e.mu.Unlock()
	}
}

func (e *editors) get(name string) *screen.Server {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessions[name]
}

func (e *editors) names() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.sessions))
	for n := range e.sessions {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// editor is the editor as a stable program: it needs the node's banks.
func editor(env node.Env) task.Program {
	return func(ctx context.Context, t *task.Task, args []string) (string, error) {
		return runEditor(ctx, env, t, args)
	}
}

// editArgs are the editor task's arguments: bank, session, width, height,
// file (ftmctl edit fills them in).
type editArgs struct {
	bank, session, file string
	width, height       int
}

func parseEditArgs(args []string) (editArgs, error) {
	if len(args) != 5 {
		return editArgs{}, fmt.Errorf("edit: want BANK SESSION WIDTH HEIGHT FILE, got %d arguments", len(args))
	}
	w, err1 := strconv.Atoi(args[2])
	h, err2 := strconv.Atoi(args[3])
	if err1 != nil || err2 != nil {
		return editArgs{}, fmt.Errorf("edit: bad screen size %sx%s", args[2], args[3])
	}
	return editArgs{bank: args[0], session: args[1], width: w, height: h, file: args[4]}, nil
}

// runEditor is the editor as a stable task: its screen and file servers
// keep their state in the task's bank.
func runEditor(ctx context.Context, env node.Env, t *task.Task, args []string) (string, error) {
	a, err := parseEditArgs(args)
	if err != nil {
		return "", err
	}
	bank := env.Bank(a.bank)
	if bank == nil {
		return "", fmt.Errorf("edit: this node does not hold bank %s", a.bank)
	}
	log := env.Logger.With(zap.String("session", a.session))
	fs := files.New(files.Config{Bank: bank, Logger: log})
	if err := fs.Recover(ctx); err != nil {
		log.Warn("could not finish the saves of the last holder", zap.Error(err))
	}
	scr, err := screen.NewServer(ctx, screen.ServerConfig{Width: a.width, Height: a.height,
		Store: screen.NewBankStore(bank, "edit/"+a.session), Logger: log})
	if err != nil {
		return "", err
	}
	unregister := nodeEditors.register(a.session, scr)
	err = session.Run(ctx, t, session.Config{File: a.file, Width: a.width, Height: a.height, Screen: scr,
		Files: session.Files(ctx, fs), Logger: log})
	unregister()
	if err != nil {
		scr.Drop() // the node is stopping: the terminal reconnects elsewhere
		return "", err
	}
	scr.Close() // the user quit: the terminal detaches
	if err := scr.Forget(ctx); err != nil {
		log.Warn("could not delete the editor's screen image", zap.Error(err))
	}
	return "edited " + a.file, nil
}

// editRoutes serves GET /editors (the sessions this node runs) and GET
// /attach?session=S (the connection upgrades to screen frames).
func editRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /editors", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(nodeEditors.names())
	})
	mux.HandleFunc("GET /attach", serveAttach)
}

func serveAttach(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("session")
	scr := nodeEditors.get(name)
	if scr == nil {
		http.Error(w, "no editing session "+strconv.Quote(name)+" on this node", http.StatusNotFound)
		return
	}
	if r.Header.Get("Upgrade") != screenUpgrade {
		http.Error(w, "attach needs Upgrade: "+screenUpgrade, http.StatusBadRequest)
		return
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, err = io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+screenUpgrade+"\r\n\r\n")
	if err != nil {
		_ = nc.Close()
		return
	}
	_ = scr.Serve(context.Background(), bufferedConn{Reader: brw.Reader, ReadWriteCloser: nc})
}

// bufferedConn reads through the bufio.Reader that may hold bytes read
// ahead of the hijack.
type bufferedConn struct {
	*bufio.Reader
	io.ReadWriteCloser
}

func (b bufferedConn) Read(p []byte) (int, error) { return b.Reader.Read(p) }
