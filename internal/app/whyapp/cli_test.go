package whyapp

import (
	"errors"
	"testing"
)

func TestParseArgs(t *testing.T) {
	cases := map[string]struct {
		args    []string
		want    Command
		wantErr bool
	}{
		"flags before the name": {
			args: []string{"why", "-n", "shop", "web"},
			want: Command{Verb: "why", Name: "web", Namespace: "shop", ConfigNamespace: "metallb-system"},
		},
		"flags after the name": {
			args: []string{"why", "web", "-n", "shop"},
			want: Command{Verb: "why", Name: "web", Namespace: "shop", ConfigNamespace: "metallb-system"},
		},
		"flags on both sides, long forms with =": {
			args: []string{"why", "--namespace=shop", "web", "--config-namespace", "lb", "--lb-class=x"},
			want: Command{Verb: "why", Name: "web", Namespace: "shop", ConfigNamespace: "lb", LBClass: "x"},
		},
		"no namespace means default": {
			args: []string{"why", "web"},
			want: Command{Verb: "why", Name: "web", Namespace: "default", ConfigNamespace: "metallb-system"},
		},
		"pools with a kubeconfig": {
			args: []string{"pools", "--kubeconfig", "/k"},
			want: Command{Verb: "pools", Namespace: "default", ConfigNamespace: "metallb-system", Kubeconfig: "/k"},
		},
		"--version is the version command": {
			args: []string{"--version"},
			want: Command{Verb: "version", Namespace: "default", ConfigNamespace: "metallb-system"},
		},
		"why without a name is a usage error":     {args: []string{"why", "-n", "shop"}, wantErr: true},
		"why with two names is a usage error":     {args: []string{"why", "a", "b"}, wantErr: true},
		"pools takes no name":                     {args: []string{"pools", "x"}, wantErr: true},
		"unknown flag is a usage error":           {args: []string{"why", "--bogus", "web"}, wantErr: true},
		"flag without its value is a usage error": {args: []string{"why", "web", "-n"}, wantErr: true},
		"unknown command is a usage error":        {args: []string{"explain", "web"}, wantErr: true},
		"nothing at all is a usage error":         {args: nil, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseArgs(tc.args)
			if tc.wantErr {
				if !errors.Is(err, ErrUsage) {
					t.Fatalf("ParseArgs(%q) = %+v, %v; want a usage error", tc.args, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseArgs(%q): %v", tc.args, err)
			}
			if got != tc.want {
				t.Errorf("ParseArgs(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}

func FuzzParseArgs(f *testing.F) {
	f.Add("why", "-n", "shop")
	f.Add("pools", "--kubeconfig", "x")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		cmd, err := ParseArgs([]string{a, b, c})
		if err == nil && cmd.Verb == "why" && cmd.Name == "" {
			t.Errorf("why parsed with no Service name from %q", []string{a, b, c})
		}
	})
}
