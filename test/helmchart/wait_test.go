package helmchart

import (
	"context"
	"time"
)

// waitABit paces a retry loop; the loop's bound is a count, not a deadline.
func waitABit(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(200 * time.Millisecond):
	}
}
