// Package runtime holds what both ironlb daemons do the same way around their own
// work: logging set-up from --log-level, and the health and readiness probes.
package runtime

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// SetupLogging makes slog (JSON on stderr) the logger of the process and of
// controller-runtime, at the level named by --log-level.
func SetupLogging(levelName string) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(levelName)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", levelName)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctrl.SetLogger(logr.FromSlogHandler(logger.Handler()))
	return logger, nil
}

// AddProbes serves /healthz (the process answers) and /readyz (its caches have
// synced, so it acts on the cluster as it is rather than on a partial view).
func AddProbes(mgr ctrl.Manager) error {
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("caches", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return fmt.Errorf("caches not synced")
		}
		return nil
	})
}
