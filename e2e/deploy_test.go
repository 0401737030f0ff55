package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The deployment examples are checked against the binary they run: their
// flags and CARDBATCH_ variables exist, their grace periods exceed the
// --timeout they give, and the token comes from where it must.

// k8sDoc holds the parts of a Kubernetes object the test checks.
type k8sDoc struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
		JobTemplate       struct {
			Spec struct {
				Template struct {
					Spec podSpec `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds int64 `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot bool  `yaml:"runAsNonRoot"`
		RunAsUser    int64 `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []struct {
		Name string   `yaml:"name"`
		Args []string `yaml:"args"`
		Env  []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom struct {
				SecretKeyRef struct {
					Name string `yaml:"name"`
					Key  string `yaml:"key"`
				} `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		SecurityContext struct {
			ReadOnlyRootFilesystem bool `yaml:"readOnlyRootFilesystem"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	} `yaml:"containers"`
	Volumes []struct {
		Name                  string `yaml:"name"`
		PersistentVolumeClaim struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
		EmptyDir *struct{} `yaml:"emptyDir"`
	} `yaml:"volumes"`
}

// readK8s parses every document of a YAML file.
func readK8s(t *testing.T, path string) []k8sDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []k8sDoc
	for {
		var d k8sDoc
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

// runHelp is `cardbatch run -h`.
func runHelp(t *testing.T) string {
	t.Helper()
	r := run(t, t.TempDir(), "run", "-h")
	if r.code != 0 {
		t.Fatalf("run -h: exit %d", r.code)
	}
	return r.stdout
}

var longFlag = regexp.MustCompile(`^--([a-z0-9-]+)`)

// checkFlags fails for a --flag in args or a CARDBATCH_ variable in env
// that `cardbatch run -h` does not list.
func checkFlags(t *testing.T, help string, args []string, env map[string]string) {
	t.Helper()
	for _, a := range args {
		if m := longFlag.FindStringSubmatch(a); m != nil && !strings.Contains(help, "  --"+m[1]+" ") {
			t.Errorf("%s is not a run flag", a)
		}
	}
	for k := range env {
		if name, ok := strings.CutPrefix(k, "CARDBATCH_"); ok {
			flag := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
			if !strings.Contains(help, "  --"+flag+" ") {
				t.Errorf("%s names no run flag (--%s)", k, flag)
			}
		}
	}
}

// timeoutOf is the --timeout a command line and environment give a run
// (the flag wins, then CARDBATCH_TIMEOUT, then the default 30s).
func timeoutOf(t *testing.T, args []string, env map[string]string) time.Duration {
	t.Helper()
	v := env["CARDBATCH_TIMEOUT"]
	if v == "" {
		v = "30s"
	}
	for i, a := range args {
		if s, ok := strings.CutPrefix(a, "--timeout="); ok {
			v = s
		} else if a == "--timeout" && i+1 < len(args) {
			v = args[i+1]
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("--timeout %q: %v", v, err)
	}
	return d
}

func TestKubernetesCronJob(t *testing.T) {
	t.Parallel()
	docs := readK8s(t, filepath.Join("..", "deploy", "kubernetes", "cronjob.yaml"))
	pvcs := map[string]bool{}
	var cj *k8sDoc
	for i := range docs {
		switch docs[i].Kind {
		case "PersistentVolumeClaim":
			pvcs[docs[i].Metadata.Name] = true
		case "CronJob":
			cj = &docs[i]
		}
	}
	if cj == nil || len(pvcs) == 0 {
		t.Fatalf("want a CronJob and a PersistentVolumeClaim, got %+v", docs)
	}
	if cj.Spec.ConcurrencyPolicy != "Forbid" {
		t.Errorf("concurrencyPolicy %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	env := map[string]string{}
	token := false
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if e.Name == "ACEDATA_TOKEN" {
			token = e.Value == "" && e.ValueFrom.SecretKeyRef.Name != "" && e.ValueFrom.SecretKeyRef.Key != ""
		}
	}
	if !token {
		t.Errorf("ACEDATA_TOKEN must come from a Secret (valueFrom.secretKeyRef), never a literal value")
	}
	if env["CARDBATCH_METRICS_PUSH"] == "" && !strings.Contains(strings.Join(c.Args, " "), "--metrics-push") {
		t.Errorf("no --metrics-push: the job's metrics go nowhere")
	}
	if len(c.Args) == 0 || c.Args[0] != "run" {
		t.Fatalf("args %q, want the run command", c.Args)
	}
	checkFlags(t, runHelp(t), c.Args[1:], env)
	if grace, timeout := time.Duration(pod.TerminationGracePeriodSeconds)*time.Second, timeoutOf(t, c.Args, env); grace <= timeout {
		t.Errorf("terminationGracePeriodSeconds %v, want more than --timeout %v", grace, timeout)
	}
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser == 0 || !c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("want runAsNonRoot, a non-zero runAsUser and readOnlyRootFilesystem: %+v, %+v", pod.SecurityContext, c.SecurityContext)
	}
	mounts := map[string]string{} // path: volume
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	for _, v := range pod.Volumes {
		switch v.Name {
		case mounts["/data"]:
			if !pvcs[v.PersistentVolumeClaim.ClaimName] {
				t.Errorf("/data is volume %q, not the PersistentVolumeClaim of the file", v.Name)
			}
			delete(mounts, "/data")
		case mounts["/tmp"]:
			if v.EmptyDir == nil {
				t.Errorf("/tmp is not an emptyDir")
			}
			delete(mounts, "/tmp")
		}
	}
	if mounts["/data"] != "" || mounts["/tmp"] != "" {
		t.Errorf("want /data on the PersistentVolumeClaim and /tmp on an emptyDir (read-only root): left %v", mounts)
	}
	dryRunAsPod(t, c.Args, env)
}

// dryRunAsPod runs the container's command and CARDBATCH_ variables as a
// dry run, /data being a folder holding the sample file: the binary accepts
// them as they are written.
func dryRunAsPod(t *testing.T, args []string, env map[string]string) {
	t.Helper()
	data := t.TempDir()
	sample, err := os.ReadFile(filepath.Join("..", "samples", "cards.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "cards.csv"), sample, 0o600); err != nil {
		t.Fatal(err)
	}
	var podArgs []string
	for _, a := range args {
		podArgs = append(podArgs, strings.ReplaceAll(a, "/data", data))
	}
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	cmd := cli(ctx, data, podArgs...)
	for k, v := range env {
		if strings.HasPrefix(k, "CARDBATCH_") {
			cmd.Env = append(cmd.Env, k+"="+strings.ReplaceAll(v, "/data", data))
		}
	}
	cmd.Env = append(cmd.Env, "CARDBATCH_DRY_RUN=true")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dry run") {
		t.Fatalf("the CronJob's command as a dry run: %v\n%s", err, out)
	}
}

// The service and the timer pass systemd-analyze verify without a warning
// (with ExecStart pointing at the binary under test), the stop timeout
// exceeds --timeout, SIGTERM stops it, and the token is a credential.
func TestSystemdUnits(t *testing.T) {
	t.Parallel()
	analyze := program(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	src := filepath.Join("..", "deploy", "systemd")
	service, err := os.ReadFile(filepath.Join(src, "cardbatch.service"))
	if err != nil {
		t.Fatal(err)
	}
	timer, err := os.ReadFile(filepath.Join(src, "cardbatch.timer"))
	if err != nil {
		t.Fatal(err)
	}
	svc := strings.ReplaceAll(string(service), "/usr/local/bin/cardbatch", bin)
	for name, text := range map[string]string{"cardbatch.service": svc, "cardbatch.timer": string(timer)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(analyze, "verify", "--man=no", "./cardbatch.service", "./cardbatch.timer")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	keys := unitKeys(svc)
	if keys["KillSignal"] != "SIGTERM" {
		t.Errorf("KillSignal %q, want SIGTERM", keys["KillSignal"])
	}
	if !strings.Contains(keys["LoadCredential"], "acedata-token:") || strings.Contains(keys["Environment"], "ACEDATA_TOKEN") {
		t.Errorf("the token must come through LoadCredential, never an Environment= line")
	}
	start := strings.Fields(keys["ExecStart"])
	if len(start) < 2 || start[0] != bin || start[1] != "run" {
		t.Fatalf("ExecStart %q, want cardbatch run", keys["ExecStart"])
	}
	env := map[string]string{}
	for _, kv := range strings.Fields(keys["Environment"]) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	checkFlags(t, runHelp(t), start[2:], env)
	stop, err := time.ParseDuration(keys["TimeoutStopSec"] + "s")
	if err != nil {
		t.Fatalf("TimeoutStopSec %q: give it in seconds", keys["TimeoutStopSec"])
	}
	if timeout := timeoutOf(t, start, env); stop <= timeout {
		t.Errorf("TimeoutStopSec %v, want more than --timeout %v", stop, timeout)
	}
	if !strings.Contains(string(timer), "OnCalendar=") {
		t.Errorf("the timer has no OnCalendar")
	}
}

// unitKeys reads a unit's Key=value lines (continuations joined; repeated
// keys joined with a space).
func unitKeys(text string) map[string]string {
	keys := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(text, "\\\n", " ")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		keys[k] = strings.TrimSpace(strings.Join(strings.Fields(keys[k]+" "+v), " "))
	}
	return keys
}

// The Dockerfile builds the binary as the static test does, and runs it as a
// non-root user with /data as its volume and the answer cache on it.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var build, user, from string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "RUN" && strings.Contains(line, "go build"):
			build = line
		case f[0] == "USER":
			user = f[1]
		case f[0] == "FROM":
			from = f[1]
		}
	}
	for _, want := range []string{"CGO_ENABLED=1", "-tags " + staticTags, staticLDFlags} {
		if !strings.Contains(build, want) {
			t.Errorf("the Dockerfile's go build lacks %q: %s", want, build)
		}
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0") {
		t.Errorf("USER %q, want a non-root user", user)
	}
	if !strings.Contains(from, "distroless/static") && from != "scratch" {
		t.Errorf("final stage FROM %q, want distroless/static or scratch", from)
	}
	for _, want := range []string{`VOLUME ["/data"]`, "XDG_CACHE_HOME=/data/"} {
		if !strings.Contains(text, want) {
			t.Errorf("the Dockerfile lacks %s", want)
		}
	}
}
