package screen

import "testing"

// FuzzWrite: any output must not panic the interpreter, and Render must
// redraw an image equal to the one it came from.
func FuzzWrite(f *testing.F) {
	for _, s := range []string{
		"hello\r\nworld", "\x1b[2J\x1b[H\x1b[1;31mred\x1b[0m", "\x1b[2;4r\x1b[?6h\x1b[5;1Hx\n\n\n",
		"\x1b7\x1b[3;3H\x1b8", "\xe2\x82\xac\xc3", "\x1b[4h\x1b[?7labcdefghijklmnopqrstuvwxyz",
		"\x1b]0;title\x07x", "\x1b[38;5;200;48;2;1;2;3mX", "\tA\x1bH\x1b[3g\tB", "\x1b#8\x1b[2;3r\x1bM\x1bM",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		im := New(12, 6)
		_, _ = im.Write(data)
		re := New(12, 6)
		_, _ = re.Write(im.Render())
		if !re.Equal(im) {
			t.Fatalf("render of %q does not redraw an equal image:\n%s\nvs\n%s", data, dump(im), dump(re))
		}
	})
}
