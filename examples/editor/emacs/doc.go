// Package emacs is the demo editor of ftm-lessons.txt §6.4: a small
// micro-emacs-like editor written as an ordinary program, with no
// failure-handling code of its own.
//
// Its whole state — the text (a gap buffer of characters), point, mark,
// kill buffer, search and minibuffer state, the file name, the message,
// the number of the last input applied, and a copy of what it last drew —
// lives in one arena of bytes that holds no Go pointer. Run as a stable
// task the arena is an RVM segment, checkpointed after each burst of
// input, and after a takeover the editor is re-entered with the arena as
// it was at the last checkpoint; its first Redisplay then redraws the
// whole screen, so the terminal shows exactly the restored state.
//
// The core is pure: Input applies keyboard bytes (numbered, so input
// resent after a takeover is applied once), Redisplay returns the VT100
// escape sequences that bring the screen up to date, and files come from
// a Files interface (the file store of devices/files in a stable task).
//
// Keys: C-f C-b C-n C-p C-a C-e and the arrow keys move; M-< M-> go to the
// start and end; C-v M-v page; C-d and DEL delete; C-k kills to the end of
// the line (repeated C-k append); C-y yanks; C-SPC sets the mark and C-w
// kills the region; C-s searches incrementally (C-s again for the next
// match, DEL to shorten, RET to stop, C-g to go back); C-x C-f visits a
// file; C-x C-s saves it; C-x C-c quits (twice if the buffer is
// modified); C-g cancels; C-l redraws. Text is UTF-8; every character
// takes one column, a tab up to the next multiple of 8, a control
// character two (^X). Lines wider than the screen end in '$' and the
// line with the cursor scrolls sideways.
//
// Limits: the arena fixes the capacity (DefaultMem holds about 400,000
// characters; a larger file is refused with a message) and the screen
// size is fixed when the arena is first used (up to MaxWidth×MaxHeight).
package emacs
