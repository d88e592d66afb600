package liveness

import "time"

// forever stands for "no instant": a member with no peers is in quorum for
// as long as it runs.
var forever = time.Unix(1<<62, 0)

// quorumUntil is the instant at which this member stops being in quorum if
// no message arrives before it; zero if it is not in quorum at now. The
// speaker hands it to the announcer, which stops answering on its own at
// that instant: a process that resumes after a pause (SIGSTOP, CPU
// throttling, GC) never answers for an IP before liveness has looked at what
// arrived while it was stopped.
//
// It walks the instants at which the view can change without a message
// (nextDeadline) and returns the first at which inQuorum is false, so it
// follows whatever rules inQuorum has.
func (s *state) quorumUntil(now time.Time) time.Time {
	if !s.inQuorum(now) {
		return time.Time{}
	}
	t := now
	for range 4*len(s.peers) + 8 {
		next := s.nextDeadline(t)
		if next.IsZero() {
			return forever
		}
		if !s.inQuorum(next) {
			return next
		}
		t = next
	}
	return t // still in quorum this far: a safe, early answer
}
