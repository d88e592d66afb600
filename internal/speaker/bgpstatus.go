package speaker

import (
	"context"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
)

// syncBGPStatus makes this node's ServiceBGPStatus objects match what it
// advertises: one per Service carried to at least one peer, status.peers the
// BGPPeer names (MetalLB: the peers it is configured to be advertised to).
// Objects are read from the API server (not cached) and written only where
// they differ.
func (r *BGPReconciler) syncBGPStatus(ctx context.Context, services []BGPServiceResult) error {
	var list metallbv1beta1.ServiceBGPStatusList
	if err := r.api.List(ctx, &list, client.InNamespace(r.opts.Namespace), client.MatchingLabels{metallbv1beta1.LabelAnnounceNode: r.opts.Node}); err != nil {
		return fmt.Errorf("listing ServiceBGPStatus: %w", err)
	}
	have := map[string]*metallbv1beta1.ServiceBGPStatus{}
	var errs []error
	for i := range list.Items {
		st := &list.Items[i]
		key := st.Labels[metallbv1beta1.LabelServiceNamespace] + "/" + st.Labels[metallbv1beta1.LabelServiceName]
		if _, dup := have[key]; dup {
			errs = append(errs, r.writer.Delete(ctx, st))
			continue
		}
		have[key] = st
	}
	want := map[string]bool{}
	for _, s := range services {
		if len(s.Peers) == 0 {
			continue
		}
		key := s.Namespace + "/" + s.Name
		want[key] = true
		status := metallbv1beta1.MetalLBServiceBGPStatus{Node: r.opts.Node, ServiceName: s.Name, ServiceNamespace: s.Namespace, Peers: slices.Clone(s.Peers)}
		st, ok := have[key]
		if !ok {
			st = &metallbv1beta1.ServiceBGPStatus{ObjectMeta: metav1.ObjectMeta{
				Namespace: r.opts.Namespace, GenerateName: "bgp-",
				Labels: map[string]string{
					metallbv1beta1.LabelAnnounceNode:     r.opts.Node,
					metallbv1beta1.LabelServiceName:      s.Name,
					metallbv1beta1.LabelServiceNamespace: s.Namespace,
				},
			}}
			if err := r.writer.Create(ctx, st); err != nil {
				errs = append(errs, fmt.Errorf("creating ServiceBGPStatus for %s: %w", key, err))
				continue
			}
		} else if slices.Equal(st.Status.Peers, status.Peers) && st.Status.Node == status.Node {
			continue
		}
		st.Status = status
		if err := r.writer.Status().Update(ctx, st); err != nil {
			errs = append(errs, fmt.Errorf("writing ServiceBGPStatus %s: %w", st.Name, err))
		}
	}
	for key, st := range have {
		if !want[key] {
			if err := r.writer.Delete(ctx, st); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("deleting ServiceBGPStatus %s: %w", st.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
