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
		return skipAll(m, err.Error())
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return skipAll(m, err.Error())
	}
	binDir := os.Getenv("IRONLB_E2E_BIN_DIR")
	if binDir == "" {
		if err := lab.SpeakerSource(root); err != nil {
			return skipAll(m, err.Error())
		}
		sweepBinDirs()
		tmp, err := os.MkdirTemp("", fmt.Sprintf("ironlb-e2e-bin-%d-", os.Getpid()))
		if err != nil {
			return skipAll(m, err.Error())
		}
		defer os.RemoveAll(tmp)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err = lab.Build(ctx, root, tmp, false)
		cancel()
		if err != nil {
			return skipAll(m, "controller/speaker do not build: "+err.Error())
		}
		binDir = tmp
	} else if !filepath.IsAbs(binDir) {
		binDir = filepath.Join(root, binDir)
	}
	if _, err := testenv.Assets(); err != nil {
		return skipAll(m, "no kube-apiserver/etcd/kubectl: "+err.Error())
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

// skipAll runs the tests with every one skipping for reason, unless
// IRONLB_REQUIRE_NETNS is set (make test sets it when run as root): then a lab
// that cannot be built is a failure, so CI never passes without these tests.
func skipAll(m *testing.M, reason string) int {
	if os.Getenv("IRONLB_REQUIRE_NETNS") != "" {
		fmt.Fprintf(os.Stderr, "e2e: IRONLB_REQUIRE_NETNS is set but the lab cannot run: %s\n", reason)
		return 1
	}
	skipReason = reason
	return m.Run()
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
