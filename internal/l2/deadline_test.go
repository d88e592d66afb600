package l2

import (
	"testing"
	"time"
)

func TestDeadline(t *testing.T) {
	cases := map[string]struct {
		set       func(a *Announcer)
		answering bool
	}{
		"never set: no limit (announcers used without liveness)": {func(*Announcer) {}, true},
		"zero time: nothing is answered":                         {func(a *Announcer) { a.SetDeadline(time.Time{}) }, false},
		"in the past: nothing is answered":                       {func(a *Announcer) { a.SetDeadline(time.Now().Add(-time.Millisecond)) }, false},
		"ahead: answered":                                        {func(a *Announcer) { a.SetDeadline(time.Now().Add(time.Hour)) }, true},
		"far ahead without a monotonic reading: answered":        {func(a *Announcer) { a.SetDeadline(time.Unix(1<<62, 0)) }, true},
		"the latest call wins, even when earlier":                {func(a *Announcer) { a.SetDeadline(time.Now().Add(time.Hour)); a.SetDeadline(time.Time{}) }, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			a, err := New(Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			tc.set(a)
			if got := a.answering(); got != tc.answering {
				t.Fatalf("answering = %v, want %v", got, tc.answering)
			}
		})
	}
}
