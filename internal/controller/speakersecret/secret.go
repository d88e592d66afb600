// Package speakersecret makes sure the Secret the speakers authenticate their
// liveness traffic with exists. MetalLB's controller creates the same Secret
// ("memberlist", key "secretkey") for memberlist, so a migrated cluster keeps its key.
package speakersecret

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

const (
	// Name and Key are MetalLB's names for the speakers' shared secret.
	Name = "memberlist"
	Key  = "secretkey"
)

// Ensurer creates the Secret when it is missing. It runs once on the leader and
// never rotates or overwrites an existing key: speakers already running use it.
type Ensurer struct {
	Client client.Client
	// Reader reads past the cache: caching every Secret in the cluster to read one
	// would need cluster-wide RBAC on Secrets and memory for all of them.
	Reader    client.Reader
	Namespace string
}

// NeedLeaderElection makes only the leader create the Secret.
func (e *Ensurer) NeedLeaderElection() bool { return true }

// Start creates the Secret, retrying until it exists or ctx ends.
func (e *Ensurer) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithValues("secret", e.Namespace+"/"+Name)
	for {
		err := e.ensure(ctx)
		if err == nil {
			return nil
		}
		logger.Error(err, "cannot create the speakers' liveness Secret; speakers wait for it. Check the controller's RBAC for secrets in the namespace")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
	}
}

func (e *Ensurer) ensure(ctx context.Context) error {
	var s corev1.Secret
	err := e.Reader.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: Name}, &s)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("reading random bytes: %w", err)
	}
	s = corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: Name},
		Data:       map[string][]byte{Key: []byte(base64.StdEncoding.EncodeToString(raw))},
	}
	if err := e.Client.Create(ctx, &s); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}
