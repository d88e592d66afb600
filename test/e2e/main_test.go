// Package e2e runs ironlb end to end in the local lab (test/lab): a real
// kube-apiserver, the controller and one speaker per node, on a layer-2
// network of namespaces, checked from a client namespace with arping, ndisc6,
// its neighbour table and TCP. One lab is shared by all tests; every test
// restores what it changes. Needs root, `ip netns`, arping and ndisc6; skips
// with the reason otherwise.
//
//	sudo go test ./test/e2e/ -v -timeout 15m
//	IRONLB_E2E_LOG_DIR=/tmp/e2e-logs ...   keep controller/speaker logs
//	IRONLB_E2E_BIN_DIR=bin ...             use prebuilt controller/speaker
package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ironlb/ironlb/internal/testenv"
	"github.com/ironlb/ironlb/test/lab"
)

var (
	theLab     *lab.Lab
	skipReason string
)

func TestMain(m *testing.M) {
	lab.HelperMain()
	ctrl.SetLogger(logr.Discard())
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := lab.Available(); err != nil {
		skipReason = err.Error()
		return m.Run()
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		skipReason = err.Error()
		return m.Run()
	}
	binDir := os.Getenv("IRONLB_E2E_BIN_DIR")
	if binDir == "" {
		if err := lab.SpeakerSource(root); err != nil {
			skipReason = err.Error()
			return m.Run()
		}
		sweepBinDirs()
		tmp, err := os.MkdirTemp("", fmt.Sprintf("ironlb-e2e-bin-%d-", os.Getpid()))
		if err != nil {
			skipReason = err.Error()
			return m.Run()
		}
		defer os.RemoveAll(tmp)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err = lab.Build(ctx, root, tmp, false)
		cancel()
		if err != nil {
			skipReason = "controller/speaker do not build: " + err.Error()
			return m.Run()
		}
		binDir = tmp
	} else if !filepath.IsAbs(binDir) {
		binDir = filepath.Join(root, binDir)
	}
	if _, err := testenv.Assets(); err != nil {
		skipReason = "no kube-apiserver/etcd/kubectl: " + err.Error()
		return m.Run()
	}
	logDir := os.Getenv("IRONLB_E2E_LOG_DIR")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	l, err := lab.Start(ctx, lab.Options{Nodes: 3, BinDir: binDir, RepoRoot: root, LogDir: logDir,
		Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "lab: "+f+"\n", a...) }})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "lab: %v\n", err)
		return 1
	}
	theLab = l
	code := m.Run()
	if code != 0 {
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(os.Stderr, "---- speaker node-%d log (tail)\n%s\n", i, l.LogTail("speaker-"+lab.NodeName(i), 30))
		}
		fmt.Fprintf(os.Stderr, "---- controller log (tail)\n%s\n", l.LogTail("controller", 20))
	}
	if err := l.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "lab teardown: %v\n", err)
		code = 1
	}
	return code
}

var binDirRE = regexp.MustCompile(`^ironlb-e2e-bin-(\d+)-`)

// sweepBinDirs removes binary directories of e2e runs that died (a panicking
// test skips TestMain's cleanup).
func sweepBinDirs() {
	ents, _ := os.ReadDir(os.TempDir())
	for _, e := range ents {
		m := binDirRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
	}
}

// getLab returns the shared lab or skips the test with the reason.
func getLab(t *testing.T) *lab.Lab {
	t.Helper()
	if theLab == nil {
		if skipReason == "" {
			skipReason = "lab not started"
		}
		t.Skip(skipReason)
	}
	return theLab
}
