// Command kubelet-oracle answers questions about kubelet credential matching by calling the
// kubelet's own code from k8s.io/kubernetes (the version hack/build-oracle.sh builds it
// against), so that the collection's Python model can be checked against it.
//
// Protocol: one JSON object per line on stdin, one JSON object per line on stdout, in order.
// Every string that may hold arbitrary bytes travels as base64 (fields ending in _b64), so
// invalid UTF-8 survives the trip in both directions. Requests:
//
//	{"id":..., "op":"pull", "image_b64":..., "secrets":[{"name":..., "type":..., "data":{"<key>":"<base64>"}}]}
//	    the kubelet's pull path (pkg/kubelet/images/image_manager.go EnsureImageExists):
//	    applyDefaultImageTag, parsers.ParseImageName, secrets.MakeDockerKeyring(secrets,
//	    <empty node keyring>), keyring.Lookup(repo). Answer: image_error, or keyring_error
//	    (the pull fails before any credential is tried), or creds (in the order the kubelet
//	    tries them, each with the Secret it came from) and keys (the keyring's index).
//	{"id":..., "op":"add_key", "key_b64":...}       the key BasicDockerKeyring.Add makes of a config key (null: skipped)
//	{"id":..., "op":"match", "glob_b64":..., "target_b64":...}   credentialprovider.URLsMatchStr
//	{"id":..., "op":"parse_image", "image_b64":...}  parsers.ParseImageName
//	{"id":..., "op":"version"}                       Go and Kubernetes versions
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/credentialprovider"
	"k8s.io/kubernetes/pkg/credentialprovider/secrets"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/pkg/util/parsers"
)

type secretIn struct {
	Name string            `json:"name"`
	Type string            `json:"type"`
	Data map[string][]byte `json:"data"` // base64 in JSON, as in the Secret API
}

type request struct {
	ID        json.RawMessage `json:"id"`
	Op        string          `json:"op"`
	ImageB64  []byte          `json:"image_b64"`
	KeyB64    []byte          `json:"key_b64"`
	GlobB64   []byte          `json:"glob_b64"`
	TargetB64 []byte          `json:"target_b64"`
	Secrets   []secretIn      `json:"secrets"`
}

type credOut struct {
	Secret  string `json:"secret"`
	UserB64 []byte `json:"user_b64"`
	PassB64 []byte `json:"pass_b64"`
}

type response struct {
	ID           json.RawMessage `json:"id"`
	Error        string          `json:"error,omitempty"`
	ImageError   *string         `json:"image_error,omitempty"`
	KeyringError *string         `json:"keyring_error,omitempty"`
	RepoB64      []byte          `json:"repo_b64,omitempty"`
	Tag          *string         `json:"tag,omitempty"`
	Digest       *string         `json:"digest,omitempty"`
	Creds        []credOut       `json:"creds,omitempty"`
	KeysB64      [][]byte        `json:"keys_b64,omitempty"`
	Key          *[]byte         `json:"key_b64,omitempty"`
	Match        *bool           `json:"match,omitempty"`
	MatchError   *string         `json:"match_error,omitempty"`
	Go           string          `json:"go,omitempty"`
	Kubernetes   string          `json:"kubernetes,omitempty"`
}

// applyDefaultImageTag is pkg/kubelet/images/image_manager.go applyDefaultImageTag (unexported
// there), kept line for line.
func applyDefaultImageTag(image string) (string, error) {
	_, tag, digest, err := parsers.ParseImageName(image)
	if err != nil {
		return "", err
	}
	if len(digest) == 0 && len(tag) > 0 && !strings.HasSuffix(image, ":"+tag) {
		image = image + ":" + tag
	}
	return image, nil
}

// keyringIndex reads the (unexported) reverse-sorted index of the BasicDockerKeyring that
// MakeDockerKeyring built from the Secrets; nil when it built none.
func keyringIndex(k credentialprovider.DockerKeyring) [][]byte {
	union, ok := k.(credentialprovider.UnionDockerKeyring)
	if !ok || len(union) == 0 {
		return nil
	}
	basic, ok := union[0].(*credentialprovider.BasicDockerKeyring)
	if !ok {
		return nil
	}
	idx := reflect.ValueOf(basic).Elem().FieldByName("index")
	out := [][]byte{}
	for i := 0; i < idx.Len(); i++ {
		out = append(out, []byte(idx.Index(i).String()))
	}
	return out
}

func str(s string) *string { return &s }

func pull(req request, resp *response) {
	requested := string(req.ImageB64)
	image, err := applyDefaultImageTag(requested)
	if err != nil {
		resp.ImageError = str(err.Error())
		return
	}
	repo, _, _, err := parsers.ParseImageName(image)
	if err != nil {
		resp.ImageError = str(err.Error())
		return
	}
	resp.RepoB64 = []byte(repo)
	var podSecrets []v1.Secret
	for _, s := range req.Secrets {
		sec := v1.Secret{Type: v1.SecretType(s.Type), Data: s.Data}
		sec.Name = s.Name
		sec.Namespace = "oracle"
		sec.UID = types.UID("uid-" + s.Name)
		podSecrets = append(podSecrets, sec)
	}
	keyring, err := secrets.MakeDockerKeyring(podSecrets, credentialprovider.UnionDockerKeyring{})
	if err != nil {
		resp.KeyringError = str(err.Error())
		return
	}
	resp.KeysB64 = keyringIndex(keyring)
	found, _ := keyring.Lookup(repo)
	resp.Creds = []credOut{}
	for _, c := range found {
		name := ""
		if c.Source != nil {
			name = c.Source.Secret.Name
		}
		resp.Creds = append(resp.Creds, credOut{Secret: name, UserB64: []byte(c.Username), PassB64: []byte(c.Password)})
	}
}

func addKey(req request, resp *response) {
	kr := &credentialprovider.BasicDockerKeyring{}
	kr.Add(nil, credentialprovider.DockerConfig{string(req.KeyB64): credentialprovider.DockerConfigEntry{Username: "u", Password: "p"}})
	idx := reflect.ValueOf(kr).Elem().FieldByName("index")
	if idx.Len() == 1 {
		k := []byte(idx.Index(0).String())
		resp.Key = &k
	}
}

func handle(line []byte) (resp response) {
	var req request
	defer func() {
		if r := recover(); r != nil {
			resp.Error = fmt.Sprintf("panic: %v", r)
		}
	}()
	if err := json.Unmarshal(line, &req); err != nil {
		return response{Error: "bad request: " + err.Error()}
	}
	resp.ID = req.ID
	switch req.Op {
	case "pull":
		pull(req, &resp)
	case "add_key":
		addKey(req, &resp)
	case "match":
		m, err := credentialprovider.URLsMatchStr(string(req.GlobB64), string(req.TargetB64))
		resp.Match = &m
		if err != nil {
			resp.MatchError = str(err.Error())
		}
	case "parse_image":
		repo, tag, digest, err := parsers.ParseImageName(string(req.ImageB64))
		if err != nil {
			resp.ImageError = str(err.Error())
		} else {
			resp.RepoB64, resp.Tag, resp.Digest = []byte(repo), &tag, &digest
		}
	case "version":
		resp.Go = runtime.Version()
		resp.Kubernetes = "unknown"
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, dep := range info.Deps {
				if dep.Path == "k8s.io/kubernetes" {
					resp.Kubernetes = dep.Version
				}
			}
		}
	default:
		resp.Error = "unknown op " + req.Op
	}
	return resp
}

func main() {
	// The kubelet logs skipped config keys with klog; keep stdout for answers.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	// Source (the Secret a credential came from) is only filled in when this gate is on; it
	// changes nothing else on the lookup path.
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(map[string]bool{string(features.KubeletEnsureSecretPulledImages): true}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(strings.TrimSpace(string(line))) > 0 {
			if e := enc.Encode(handle(line)); e != nil {
				fmt.Fprintln(os.Stderr, e)
				os.Exit(2)
			}
			// answer each line at once: the driver may wait for it
			if in.Buffered() == 0 {
				out.Flush()
			}
		}
		if err != nil {
			break
		}
	}
	out.Flush()
}
