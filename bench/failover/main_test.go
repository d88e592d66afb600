package main

import (
	"testing"
	"time"

	"github.com/ironlb/ironlb/test/lab"
)

func TestFlaps(t *testing.T) {
	r := func(sent int64, node string) lab.Reply { return lab.Reply{Sent: sent, Recv: sent + 1, Node: node} }
	for _, tc := range []struct {
		name string
		rs   []lab.Reply
		want int
	}{
		{"empty", nil, 0},
		{"one node", []lab.Reply{r(1, "a"), r(2, "a")}, 0},
		{"clean move", []lab.Reply{r(1, "a"), r(2, "a"), r(3, "b"), r(4, "b")}, 0},
		{"out of order input, clean", []lab.Reply{r(3, "b"), r(1, "a"), r(4, "b"), r(2, "a")}, 0},
		{"back and forth", []lab.Reply{r(1, "a"), r(2, "b"), r(3, "a"), r(4, "b")}, 2},
		{"three nodes, no return", []lab.Reply{r(1, "a"), r(2, "b"), r(3, "c")}, 0},
	} {
		if got := flaps(tc.rs); got != tc.want {
			t.Errorf("%s: flaps = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestPct(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 20; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if got := pct(ds, 50); got != 10*time.Millisecond {
		t.Errorf("p50 = %v", got)
	}
	if got := pct(ds, 99); got != 20*time.Millisecond {
		t.Errorf("p99 of 20 = %v, want the max", got)
	}
	if got := pct(nil, 50); got != -1 {
		t.Errorf("empty: %v", got)
	}
}
