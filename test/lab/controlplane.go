package lab

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ironlb/ironlb/internal/testenv"
)

// Files the control-plane helper writes into the lab directory.
const (
	// AdminKubeconfig points at https://127.0.0.1:<port>: valid only inside
	// the apiserver namespace (controller, kubectl).
	AdminKubeconfig = "admin.kubeconfig"
	// LabKubeconfig points at https://198.51.100.1:<port> over the
	// management network (speakers, the lab process through NSDialer).
	LabKubeconfig = "lab.kubeconfig"
)

// runControlPlane runs inside the apiserver namespace (re-executed by Start):
// envtest's etcd + kube-apiserver with the CRDs, listening on all addresses of
// that namespace. It writes the kubeconfigs, prints "READY <port>" and serves
// until its stdin closes (the lab process exited or closed it) or SIGTERM.
func runControlPlane(args []string) error {
	fs := flag.NewFlagSet("controlplane", flag.ContinueOnError)
	dir := fs.String("dir", "", "lab directory for kubeconfigs")
	advertise := fs.String("advertise", "198.51.100.1", "address speakers use to reach the apiserver")
	if err := fs.Parse(args); err != nil {
		return err
	}
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)

	env, err := testenv.New()
	if err != nil {
		return err
	}
	api := env.ControlPlane.GetAPIServer()
	api.Configure().Set("bind-address", "0.0.0.0")
	api.Configure().Set("advertise-address", *advertise)
	cfg, err := env.Environment.Start()
	if err != nil {
		return fmt.Errorf("starting etcd + kube-apiserver: %w", err)
	}
	stop := func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping control plane: %v\n", err)
		}
	}
	// envtest's own admin user (group system:masters, client certificate).
	acfg := cfg
	u, err := url.Parse(acfg.Host)
	if err != nil {
		stop()
		return err
	}
	port := u.Port()
	if err := writeKubeconfig(filepath.Join(*dir, AdminKubeconfig), acfg, acfg.Host, ""); err != nil {
		stop()
		return err
	}
	// envtest's serving certificate names only localhost and 127.0.0.1, so
	// the lab kubeconfig verifies it under the name "localhost"
	// (tls-server-name) while connecting to the management address.
	labHost := "https://" + net.JoinHostPort(*advertise, port)
	if err := writeKubeconfig(filepath.Join(*dir, LabKubeconfig), acfg, labHost, "localhost"); err != nil {
		stop()
		return err
	}
	fmt.Printf("READY %s\n", port)

	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		close(eof)
	}()
	select {
	case <-eof:
	case <-term:
	}
	stop()
	return nil
}

func writeKubeconfig(path string, cfg *rest.Config, host, serverName string) error {
	if len(cfg.CertData) == 0 || len(cfg.KeyData) == 0 {
		return errors.New("admin user has no client certificate")
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["lab"] = &clientcmdapi.Cluster{
		Server:                   host,
		CertificateAuthorityData: cfg.CAData,
		TLSServerName:            serverName,
	}
	kc.AuthInfos["lab-admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
	}
	kc.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: "lab-admin", Namespace: "default"}
	kc.CurrentContext = "lab"
	return clientcmd.WriteToFile(*kc, path)
}
