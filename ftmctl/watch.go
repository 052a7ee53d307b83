package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"

	"github.com/ftm-in-go/ftm/pair"
	"github.com/ftm-in-go/ftm/task"
)

// watchFrame is one refresh of `ftmctl watch`.
type watchFrame struct {
	Time        time.Time     `json:"time"`
	Dir         string        `json:"dir"`
	Nodes       []statusRow   `json:"nodes"`
	Tasks       []task.Record `json:"tasks"`
	Checkpoints []ckptEntry   `json:"checkpoints"` // the latest few, oldest first
	Progress    []progressBar `json:"progress"`
	RU          []ruNode      `json:"ru"`     // the recovery units of each running node
	Events      []watchEvent  `json:"events"` // the timeline, oldest first (watch_events.go)
}

// progressBar is a long-running activity: a state transfer to a new
// backup, or a task's time since its last checkpoint against its policy.
type progressBar struct {
	What     string        `json:"what"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Of       time.Duration `json:"of_ns,omitempty"` // expected length; 0 when unknown
	Overdue  bool          `json:"overdue,omitempty"`
	Activity string        `json:"activity"` // "state-transfer", "checkpoint" or "task"
	// A task's work (Activity "task"): done of total at its last
	// checkpoint, the rate over its run's checkpoints and the time left.
	Done  int64         `json:"done,omitempty"`
	Total int64         `json:"total,omitempty"`
	Rate  float64       `json:"rate_per_second,omitempty"`
	ETA   time.Duration `json:"eta_ns,omitempty"`
}

const watchCheckpoints = 8

// watchFormats are watch's -o values (json and yaml with --once).
var watchFormats = []string{"table", "json", "yaml"}

func newWatchCmd() *cobra.Command {
	var dir, output string
	var once bool
	var every time.Duration
	cmd := &cobra.Command{
		Use: "watch",
		Example: `  ftmctl watch
  ftmctl watch --interval 250ms
  ftmctl watch --once -o json | jq .nodes`,
		Short: "A live view of the pair: nodes, tasks, checkpoints, progress; Tab selects, Enter shows details, q quits",
		Long: `watch redraws, every --interval, the pair's nodes (link, epoch, heartbeat age,
banks, takeovers, faults), its stable tasks, their latest checkpoints, the
recovery units of the reliable servers (as 'ftmctl ru' lists them) and
progress bars for long activities: a state transfer to a new backup (its
elapsed time: the copy's size is not known ahead) and, per running task, the
time since its last checkpoint against its policy's 500ms (a bar that runs
over means a long checkpoint, or checkpoints refused for want of a backup).
Tab (or down, j) and shift+Tab (or up, k) select a node or a task (the
help line at the bottom names it); Enter opens a detail pane on it (a
node's banks, link and last takeover with its log id; a task's progress,
checkpoints, restarts and recovery units) and closes it; Esc closes the
pane. q, Esc or Ctrl-C quits and restores the terminal. --once prints one frame
and exits (-o json prints it as JSON), for scripts and tests.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, watchFormats...); err != nil {
				return err
			}
			if every < 100*time.Millisecond {
				return fmt.Errorf("--interval must be at least 100ms, got %s", every)
			}
			if _, err := loadPair(dir); err != nil {
				return err
			}
			fetch := func(ctx context.Context) (watchFrame, error) { return fetchFrame(ctx, dir) }
			if once {
				f, err := fetch(cmd.Context())
				if err != nil {
					return err
				}
				if structured(output) {
					return printStructured(cmd.OutOrStdout(), output, f)
				}
				_, err = io.WriteString(cmd.OutOrStdout(), renderFrame(f, every))
				return err
			}
			if structured(output) {
				return fmt.Errorf("-o %s needs --once", output)
			}
			if !isTerminal(cmd.InOrStdin()) || !isTerminal(cmd.OutOrStdout()) {
				return plainSnapshot(cmd, fetch, every)
			}
			return runWatch(watchModel{ctx: cmd.Context(), every: every, fetch: fetch}, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	addPairFlags(cmd, &dir, &output, watchFormats...)
	cmd.Flags().BoolVar(&once, "once", false, "print one frame and exit")
	cmd.Flags().DurationVar(&every, "interval", time.Second, "time between refreshes")
	return cmd
}

// fetchFrame reads the pair's state from its running nodes.
func fetchFrame(ctx context.Context, dir string) (watchFrame, error) {
	st, err := loadPair(dir)
	if err != nil {
		return watchFrame{}, err
	}
	f := watchFrame{Time: time.Now(), Dir: dir, Tasks: []task.Record{}, Checkpoints: []ckptEntry{}, Progress: []progressBar{}, RU: []ruNode{}}
	for _, n := range st.Nodes {
		row := queryStatusCtx(ctx, dir, n)
		if errors.Is(row.err, errAuth) {
			return watchFrame{}, row.err
		}
		f.Nodes = append(f.Nodes, row)
		if row.Status == nil {
			continue
		}
		c := newControlClient(dir, n.Name)
		var recs []task.Record
		if err := c.get(ctx, "/ps", &recs); err == nil {
			f.Tasks = append(f.Tasks, recs...)
		}
		var es []ckptEntry
		if err := c.get(ctx, "/ckpt", &es); err == nil {
			f.Checkpoints = append(f.Checkpoints, es...)
		}
		var rn ruNode
		if err := c.get(ctx, "/ru", &rn); err == nil {
			f.RU = append(f.RU, rn)
		}
	}
	sort.SliceStable(f.Checkpoints, func(i, j int) bool { return f.Checkpoints[i].Time.Before(f.Checkpoints[j].Time) })
	f.Progress = append(taskBars(f, f.Checkpoints), progressBars(f)...)
	if len(f.Checkpoints) > watchCheckpoints {
		f.Checkpoints = f.Checkpoints[len(f.Checkpoints)-watchCheckpoints:]
	}
	f.Events = eventsOf(f)
	return f, nil
}

// progressBars finds the long activities of a frame.
func progressBars(f watchFrame) []progressBar {
	bars := []progressBar{}
	for _, r := range f.Nodes {
		if r.Status == nil || r.Status.STM == nil {
			continue
		}
		for _, b := range r.Status.STM.Banks {
			if b.Role != pair.RoleBackup && b.Mirror == pair.MirrorCopying {
				bars = append(bars, progressBar{Activity: "state-transfer",
					What:    fmt.Sprintf("bank %s: %s copies it to its new backup on %s", b.Name, r.Node, r.Status.Partner),
					Elapsed: f.Time.Sub(b.MirrorSince)})
			}
		}
	}
	last := map[string]time.Time{}
	for _, e := range f.Checkpoints {
		last[taskKey(e.Bank, e.Task)] = e.Time
	}
	for _, t := range f.Tasks {
		if t.State != task.StateRunning {
			continue
		}
		key := taskKey(t.Bank, t.ID)
		since, ok := last[key]
		if !ok || since.Before(t.Since) {
			since = t.Since
		}
		el := f.Time.Sub(since)
		bars = append(bars, progressBar{Activity: "checkpoint", What: fmt.Sprintf("task %s (%s) on %s: since its last checkpoint", key, t.Program, t.Node),
			Elapsed: el, Of: taskPolicy.Every, Overdue: el > 2*taskPolicy.Every})
	}
	return bars
}

// The live view: a bubbletea program that fetches a frame every interval.

type frameMsg struct {
	f   watchFrame
	err error
}

type tickMsg struct{}

type watchModel struct {
	ctx           context.Context
	every         time.Duration
	fetch         func(context.Context) (watchFrame, error)
	frame         *watchFrame
	err           error
	width, height int // the terminal's, once it said
	sel           watchItem
	detail        bool // the selected item's pane is open
}

func (m watchModel) load() tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
		defer cancel()
		f, err := m.fetch(ctx)
		return frameMsg{f: f, err: err}
	}
}

func (m watchModel) Init() tea.Cmd { return m.load() }

func (m watchModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		return m.key(msg.String())
	case frameMsg:
		if msg.err != nil {
			m.err = msg.err
		} else {
			m.frame, m.err = &msg.f, nil
		}
		return m, tea.Tick(m.every, func(time.Time) tea.Msg { return tickMsg{} })
	case tickMsg:
		return m, m.load()
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	}
	return m, nil
}

// key acts on one key: q, Ctrl-C (and esc with no pane open) quit; the
// others move the selection or open and close its pane.
func (m watchModel) key(k string) (tea.Model, tea.Cmd) {
	var f watchFrame
	if m.frame != nil {
		f = *m.frame
	}
	switch k {
	case "q", "ctrl+c":
		return m, tea.Quit
	case "esc":
		if !m.detail {
			return m, tea.Quit
		}
		m.detail = false
	case "tab", "down", "j":
		m.sel = moveSelection(f, m.sel, 1)
	case "shift+tab", "up", "k":
		m.sel = moveSelection(f, m.sel, -1)
	case "enter":
		if m.sel.kind == "" {
			m.sel = moveSelection(f, m.sel, 1)
		}
		m.detail = !m.detail && m.sel.kind != ""
	}
	return m, nil
}

func (m watchModel) View() tea.View {
	var s strings.Builder
	if m.frame != nil {
		height := m.height
		if m.err != nil && height > 2 {
			height -= 2 // room for the error
		}
		s.WriteString(renderView(*m.frame, viewOpts{every: m.every, width: m.width, height: height, colour: true,
			sel: m.sel, detail: m.detail, keys: true}))
	} else if m.err == nil {
		s.WriteString("ftmctl watch: asking the nodes...\n")
	}
	if m.err != nil {
		fmt.Fprintf(&s, "\nftmctl: %v (retrying)\n", m.err)
	}
	v := tea.NewView(s.String())
	v.AltScreen = true
	return v
}

// runWatch runs the live view m on the terminal (in, out) until q, Esc,
// Ctrl-C or m.ctx ends; bubbletea restores the terminal on the way out.
func runWatch(m watchModel, in io.Reader, out io.Writer) error {
	p := tea.NewProgram(m, tea.WithContext(m.ctx), tea.WithInput(in), tea.WithOutput(out))
	_, err := p.Run()
	if errors.Is(err, tea.ErrProgramKilled) && m.ctx.Err() != nil {
		return nil
	}
	return err
}
