package integration

import (
	"context"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/config"
)

func discardLogger() logr.Logger { return logr.Discard() }

// Several managers run in one test binary, one after another or side by side (the
// leader election test); controller-runtime refuses duplicate controller names in a
// process unless told this is intended.
func ctrlConfigSkipNameValidation() config.Controller {
	skip := true
	return config.Controller{SkipNameValidation: &skip}
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
