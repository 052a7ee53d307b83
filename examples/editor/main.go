// Command editor is the demo editor of ftm-lessons.txt §6.4 (package
// emacs) run in this terminal, in this process: as a stable task that is
// a recovery unit, drawing on a reliable screen server and saving through
// a reliable file server, its checkpoints (five recovery units: the
// editor's, its three segments', the screen's) going to a bank mirrored
// to an in-process backup bank (-ft, the default), or with no fault
// tolerance (-ft=false, the baseline). To see it survive a machine crash, run it on a pair instead:
// ftmctl pair up; ftmctl edit FILE; kill -9 the node running it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/ftm-in-go/ftm/devices/files"
	"github.com/ftm-in-go/ftm/devices/screen"
	"github.com/ftm-in-go/ftm/examples/editor/emacs"
	"github.com/ftm-in-go/ftm/examples/editor/session"
	"github.com/ftm-in-go/ftm/kernel"
	"github.com/ftm-in-go/ftm/servers"
	"github.com/ftm-in-go/ftm/servers/names"
	"github.com/ftm-in-go/ftm/stm"
	"github.com/ftm-in-go/ftm/task"
	"go.uber.org/zap"
)

func main() {
	ft := flag.Bool("ft", true, "run as a stable task checkpointed into STM mirrored to a backup bank; -ft=false is the baseline")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: editor [-ft=false] FILE\nkeys: C-x C-s save, C-x C-c quit, C-s search, C-k kill, C-y yank")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *ft); err != nil {
		fmt.Fprintln(os.Stderr, "editor:", err)
		os.Exit(1)
	}
}

func run(file string, ft bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, h, err := screen.TermSize(int(os.Stdin.Fd()))
	if err != nil {
		return fmt.Errorf("run me in a terminal: %w", err)
	}
	w, h = min(w, emacs.MaxWidth), min(h, emacs.MaxHeight)
	scr, err := screen.NewServer(ctx, screen.ServerConfig{Width: w, Height: h})
	if err != nil {
		return err
	}
	cfg := session.Config{File: file, Width: w, Height: h, Screen: scr, Files: plainFiles{}}
	prog := func(ctx context.Context, t *task.Task) error { return session.Run(ctx, t, cfg) }
	tcfg := task.Config{Name: "editor"}
	if ft {
		if tcfg, prog, err = recoveryUnit(ctx, cfg); err != nil {
			return err
		}
	}
	restore, err := screen.MakeRaw(int(os.Stdin.Fd()))
	if err != nil {
		return err
	}
	defer func() { _ = restore() }()
	done := make(chan error, 1)
	go func() {
		_, err := task.Run(ctx, tcfg, prog)
		scr.Close()
		done <- err
	}()
	return attach(ctx, scr, done)
}

// recoveryUnit sets up the editor as a recovery unit in this process: a
// bank mirrored to an in-process backup, a kernel node with one driver,
// the reliable screen and file servers on it, and the task's unit.
func recoveryUnit(ctx context.Context, cfg session.Config) (task.Config, func(context.Context, *task.Task) error, error) {
	bank := stm.NewBank(stm.Config{})
	if err := bank.Attach(ctx, stm.NewLocalMirror(stm.NewBackup(stm.BackupConfig{}))); err != nil {
		return task.Config{}, nil, err
	}
	kt, err := kernel.NewNode(kernel.Config{Name: "editor"}).NewTask("editor")
	if err != nil {
		return task.Config{}, nil, err
	}
	d, err := servers.NewDriver(servers.DriverConfig{Host: "editor", Task: kt, Bank: bank, Names: names.NewKernel(kt, zap.NewNop())})
	if err != nil {
		return task.Config{}, nil, err
	}
	d.Start()
	rs, err := screen.NewReliable(screen.ReliableConfig{Name: "screen", Driver: d, Screens: screen.One(cfg.Screen)})
	if err != nil {
		return task.Config{}, nil, err
	}
	rf, err := files.NewReliable(files.ReliableConfig{Name: "files", Driver: d})
	if err != nil {
		return task.Config{}, nil, err
	}
	go func() { _ = rs.Run(ctx) }()
	go func() { _ = rf.Run(ctx) }()
	tcfg := task.Config{Name: "editor", Unit: &task.UnitConfig{Name: "editor", Bank: "editor", STM: bank, Units: oneDriver{d}}}
	rcfg := session.RUConfig{Config: cfg, ScreenServer: "screen", FileServer: "files"}
	rcfg.Files = nil
	return tcfg, func(ctx context.Context, t *task.Task) error { return session.RunRU(ctx, t, rcfg) }, nil
}

// oneDriver is the task.Units of this process: its one driver.
type oneDriver struct{ d *servers.Driver }

func (o oneDriver) Driver(string) *servers.Driver { return o.d }

// attach connects this terminal to the screen server until the editor
// ends.
func attach(ctx context.Context, scr *screen.Server, done <-chan error) error {
	a, b := net.Pipe()
	go func() { _ = scr.Serve(ctx, a) }()
	keys := make(chan []byte, 64)
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := os.Stdin.Read(buf)
			if n > 0 {
				keys <- append([]byte(nil), buf[:n]...)
			}
			if err != nil {
				close(keys)
				return
			}
		}
	}()
	var c screen.Client
	err := c.Session(ctx, b, keys, os.Stdout)
	if errors.Is(err, screen.ErrBye) {
		return <-done
	}
	return err
}

// plainFiles is the baseline's file access: the host file system.
type plainFiles struct{}

func (plainFiles) Open(p string) ([]byte, error) {
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

func (plainFiles) Save(p string, d []byte) error { return files.WriteAtomic(p, d, nil) }
