package allocation

import (
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// sourceFor watches a kind through the manager's cache.
func sourceFor(mgr ctrl.Manager, obj client.Object, h handler.EventHandler, preds ...predicate.Predicate) source.Source {
	return source.Kind(mgr.GetCache(), obj, h, preds...)
}
