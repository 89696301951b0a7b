// Command meshwaf-image packages meshwaf.wasm as the two OCI images istio-agent pulls (see
// package oci), writes them as OCI image layouts and optionally pushes them. It is what
// `go run mage.go image` runs (flags in IMAGE_ARGS).
//
//	go run ./cmd/meshwaf-image --wasm ../build/meshwaf.wasm --out ../build/oci
//	go run ./cmd/meshwaf-image --registry registry.example.com/meshwaf --tag 1.0
//	go run ./cmd/meshwaf-image --push registry.example.com/meshwaf:1.0
//
// --registry REPO pushes both: the Wasm artifact as REPO:TAG and the Docker-compatible image as
// REPO:TAG-compat. --push and --push-compat name each image's reference exactly instead.
//
// For each image it prints the manifest digest: the sha256 of a WasmPlugin or
// TrafficExtension whose url names that image.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/meshwaf/meshwaf/e2e/oci"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshwaf-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wasmPath := fs.String("wasm", "../build/meshwaf.wasm", "the module `file`")
	out := fs.String("out", "../build/oci", "`dir` for the OCI image layouts (<dir>/artifact, <dir>/compat)")
	tag := fs.String("tag", "latest", "ref.name `tag` of the images in the layouts")
	push := fs.String("push", "", "push the Wasm OCI artifact to `REF` (e.g. registry.example.com/meshwaf:1.0)")
	pushCompat := fs.String("push-compat", "", "push the Docker-compatible image to `REF`")
	registry := fs.String("registry", "", "push both images to `REPO`: the artifact as REPO:TAG, the Docker-compatible image as REPO:TAG-compat")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "meshwaf-image: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	refs := map[oci.Variant]string{oci.Artifact: *push, oci.Compat: *pushCompat}
	if *registry != "" {
		if *push != "" || *pushCompat != "" {
			fmt.Fprintln(stderr, "meshwaf-image: --registry names both references; drop --push/--push-compat, or --registry")
			return 2
		}
		refs[oci.Artifact] = *registry + ":" + *tag
		refs[oci.Compat] = *registry + ":" + *tag + "-compat"
	}
	if err := build(*wasmPath, *out, *tag, refs, stdout); err != nil {
		fmt.Fprintf(stderr, "meshwaf-image: %v\n", err)
		return 1
	}
	return 0
}

func build(wasmPath, out, tag string, push map[oci.Variant]string, stdout io.Writer) error {
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return err
	}
	for _, v := range oci.Variants {
		img, err := oci.Build(v, wasm)
		if err != nil {
			return fmt.Errorf("%s: %w", v, err)
		}
		digest, err := oci.Digest(img)
		if err != nil {
			return err
		}
		dir := filepath.Join(out, string(v))
		if err := oci.WriteLayout(dir, img, tag); err != nil {
			return fmt.Errorf("%s: writing %s: %w", v, dir, err)
		}
		fmt.Fprintf(stdout, "%-8s %s  sha256 (manifest digest) %s\n", v, dir, digest)
		if ref := push[v]; ref != "" {
			if err := oci.Push(ref, img, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
				return fmt.Errorf("%s: push %s: %w", v, ref, err)
			}
			fmt.Fprintf(stdout, "%-8s pushed oci://%s  sha256: %s\n", v, ref, digest)
		}
	}
	return nil
}
