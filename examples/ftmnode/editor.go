package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/ftm-in-go/ftm/servers"
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

func (e *editors) register(name string, s *screen.Server) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sessions[name] = s
}

func (e *editors) unregister(name string, s *screen.Server) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sessions[name] == s {
		delete(e.sessions, name)
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

// The editor's reliable servers, on every bank: BANK/screen keeps the
// screens of the editing sessions of the bank (their devices are the
// node's, in nodeEditors), BANK/files their files.
const (
	screenServer = "screen"
	fileServer   = "files"
)

func newScreenServer(cfg servers.Config) (*screen.Reliable, error) {
	return screen.NewReliable(screen.ReliableConfig{Name: cfg.Name, Driver: cfg.Driver, Screens: nodeEditors.get, Logger: cfg.Logger})
}

func newFileServer(cfg servers.Config) (*files.Reliable, error) {
	return files.NewReliable(files.ReliableConfig{Name: cfg.Name, Driver: cfg.Driver, Logger: cfg.Logger})
}

// runEditor is the editor as a stable task that is a recovery unit: it
// draws on BANK/screen and saves through BANK/files, and each checkpoint
// commits it with its segments and the screen. The session's screen
// device outlives a rollback (the task runtime enters runEditor again):
// the attached terminal stays on it.
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
	scr := nodeEditors.get(a.session)
	if scr == nil {
		if scr, err = screen.NewServer(ctx, screen.ServerConfig{Width: a.width, Height: a.height, Logger: log}); err != nil {
			return "", err
		}
		nodeEditors.register(a.session, scr)
	}
	err = session.RunRU(ctx, t, session.RUConfig{
		Config:       session.Config{File: a.file, Width: a.width, Height: a.height, Screen: scr, Logger: log},
		ScreenServer: a.bank + "/" + screenServer, ScreenName: a.session, FileServer: a.bank + "/" + fileServer,
		Direct: session.Files(ctx, files.New(files.Config{Bank: bank, Logger: log}))})
	if errors.Is(err, servers.ErrAborted) && ctx.Err() == nil {
		return "", err // rolled back and entered again by the task runtime, on the same screen
	}
	nodeEditors.unregister(a.session, scr)
	if err != nil {
		scr.Drop() // the node is stopping: the terminal reconnects elsewhere
		return "", err
	}
	scr.Close() // the user quit: the terminal detaches
	if c := t.Client(); c != nil {
		if _, err := screen.Forget.At(a.bank+"/"+screenServer).Call(ctx, c, a.session); err != nil {
			log.Warn("could not delete the editor's screen image", zap.Error(err))
		}
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
