package pager

import (
	"fmt"
	"testing"

	"github.com/ftm-in-go/ftm/rvm"
	"github.com/stretchr/testify/require"
)

// TestSaveOfPagesLentByAnotherProcessIsRefused: a save naming pages lent
// by another process (another nonce), or pages given back, changes
// nothing and fails with errNotLent, which the pager recognizes.
func TestSaveOfPagesLentByAnotherProcessIsRefused(t *testing.T) {
	r := newRig(t)
	r.serve(task, "a")
	app := r.client("app")
	unit := UnitName(task, "a")
	img := make([]byte, rvm.DefaultPageSize)
	ref := lend(map[int][]byte{0: img})
	giveBack(ref)
	for _, req := range []saveReq{
		{PageSize: rvm.DefaultPageSize, NPages: 5, Proc: "another-process", Ref: ref},
		{PageSize: rvm.DefaultPageSize, NPages: 5, Proc: processNonce, Ref: ref}, // given back
	} {
		_, err := saveM.At(unit).Call(r.ctx, app, req)
		require.ErrorIs(t, err, errNotLent, "proc %s", req.Proc)
	}
	require.NoError(t, app.Checkpoint(r.ctx))
	pages, err := ReadCommitted(r.ctx, r.bank, task, "a")
	require.NoError(t, err)
	require.Empty(t, pages)
}

// TestInlineAndLentSavesRestoreTheSame: a pager that sends its page images
// inline (Options.Inline, or after a server refused lent pages) and one
// that lends them commit the same images, and each restores the other's.
func TestInlineAndLentSavesRestoreTheSame(t *testing.T) {
	for _, mode := range []string{"inline", "fallback", "lent"} {
		t.Run(mode, func(t *testing.T) {
			r := newRig(t)
			r.serve(task, segNames...)
			app := r.client("app")
			segs := newSegs(t, 0, segSizes, segNames...)
			pg, err := New(app, task, Options{ChunkPages: 2, Inline: mode == "inline"}, segs...)
			require.NoError(t, err)
			if mode == "fallback" { // a pager in another process: its lent saves are refused
				pg.proc = "another-process"
			}
			for stamp := int64(1); stamp <= 3; stamp++ {
				round(segs, stamp)
				_, err := pg.Checkpoint(r.ctx)
				require.NoError(t, err)
			}
			if mode == "fallback" {
				require.Len(t, pg.inline, len(segNames), "every segment fell back to inline saves")
			}
			want := digest(segs)
			round(segs, 4)
			restored := newSegs(t, 0, segSizes, segNames...)
			other, err := New(app, task, Options{Inline: mode == "lent"}, restored...)
			require.NoError(t, err)
			require.NoError(t, other.Restore(r.ctx))
			require.Equal(t, want, digest(restored), fmt.Sprintf("mode %s", mode))
		})
	}
}
