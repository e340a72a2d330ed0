# Deployment workflow: container image, kind cluster, deploy, upstream conformance, undeploy.
# Included by the root Makefile (`include manifests/deploy.mk`); also usable on its own from the
# repository root: `make -f manifests/deploy.mk TARGET`. Paths are relative to the repository root.
#
#   make image       build the agent image (needs a Docker engine)
#   make kind-up     create a kind cluster whose pod network enforces no policy
#   make deploy      load the image into kind (when kubectl points at a kind cluster), apply, wait
#   make e2e-kind    run the upstream NetworkPolicy e2e suite (e2e.test) against the cluster
#   make undeploy    remove Palisade's rules from every node, then every Palisade object
#   make kind-down   delete the kind cluster
#   make render      print the manifests `deploy` would apply (needs only kubectl)
#
# docs/deploy.md explains each step.

SHELL := /bin/bash

IMAGE_REPO ?= palisade
IMAGE_TAG ?= dev
IMAGE := $(IMAGE_REPO):$(IMAGE_TAG)
DOCKER ?= docker
KUBECTL ?= kubectl
KIND ?= kind
KIND_CLUSTER ?= palisade
KIND_CONFIG ?= manifests/kind/cluster.yaml
# Empty: the node image that the installed kind release defaults to.
KIND_NODE_IMAGE ?=
NAMESPACE := palisade-system
# Overlays that set the image are written here (git-ignored; a relative path inside the repo).
RENDER_DIR ?= .palisade-run/deploy
ROLLOUT_TIMEOUT ?= 300s

# Upstream conformance. E2E_TEST is the e2e.test binary of the cluster's Kubernetes version, from
# https://dl.k8s.io/release/<version>/kubernetes-test-linux-amd64.tar.gz (kubernetes/test/bin/).
E2E_TEST ?= e2e.test
E2E_FOCUS ?= NetworkPolicy
# SCTP connectivity tests need the sctp module on the nodes' kernel; set E2E_SKIP= to run them.
E2E_SKIP ?= SCTPConnectivity
E2E_REPORT_DIR ?= .palisade-run/e2e
E2E_TIMEOUT ?= 3h

.PHONY: image kind-up kind-load kind-down render render-cleanup deploy e2e-kind undeploy FORCE

image:
	$(DOCKER) build -f manifests/Dockerfile -t $(IMAGE) .

kind-up:
	$(KIND) create cluster --name $(KIND_CLUSTER) --config $(KIND_CONFIG) \
	  $(if $(KIND_NODE_IMAGE),--image $(KIND_NODE_IMAGE)) --wait 0s
	bash manifests/kind/install-ptp-cni.sh $(KIND_CLUSTER)

kind-load:
	$(KIND) load docker-image $(IMAGE) --name $(KIND_CLUSTER)

kind-down:
	$(KIND) delete cluster --name $(KIND_CLUSTER)

# One overlay per kustomization, each pinning the image to $(IMAGE). kustomize refuses absolute
# resource paths, so the overlay names its base relative to itself: one ".." per component of
# the overlay's directory (RENDER_DIR must therefore be a relative path inside the repository).
deploy-empty :=
deploy-space := $(deploy-empty) $(deploy-empty)
deploy-up-from = $(subst $(deploy-space),/,$(patsubst %,..,$(subst /, ,$(1))))
define deploy-write-overlay
@mkdir -p $(@D)
@printf '%s\n' \
  'apiVersion: kustomize.config.k8s.io/v1beta1' \
  'kind: Kustomization' \
  'resources:' \
  '  - $(call deploy-up-from,$(@D))/$(1)' \
  'images:' \
  '  - name: palisade' \
  '    newName: $(IMAGE_REPO)' \
  '    newTag: "$(IMAGE_TAG)"' > $@
endef

$(RENDER_DIR)/agent/kustomization.yaml: FORCE
	$(call deploy-write-overlay,manifests)

$(RENDER_DIR)/cleanup/kustomization.yaml: FORCE
	$(call deploy-write-overlay,manifests/cleanup)

FORCE:

render: $(RENDER_DIR)/agent/kustomization.yaml
	@$(KUBECTL) kustomize $(RENDER_DIR)/agent

render-cleanup: $(RENDER_DIR)/cleanup/kustomization.yaml
	@$(KUBECTL) kustomize $(RENDER_DIR)/cleanup

deploy: $(RENDER_DIR)/agent/kustomization.yaml
	@if [ "$$($(KUBECTL) config current-context 2>/dev/null)" = "kind-$(KIND_CLUSTER)" ]; then \
	  echo "context kind-$(KIND_CLUSTER): loading $(IMAGE) into the kind nodes"; \
	  $(KIND) load docker-image $(IMAGE) --name $(KIND_CLUSTER); \
	fi
	$(KUBECTL) apply -k $(RENDER_DIR)/agent
	$(KUBECTL) -n $(NAMESPACE) rollout status daemonset/palisade --timeout=$(ROLLOUT_TIMEOUT)

e2e-kind:
	@command -v $(E2E_TEST) >/dev/null || { \
	  echo "e2e.test not found (E2E_TEST=$(E2E_TEST)). Get the one matching the server version:"; \
	  echo "  v=\$$($(KUBECTL) version -o json | jq -r .serverVersion.gitVersion)"; \
	  echo "  curl -L https://dl.k8s.io/release/\$$v/kubernetes-test-linux-amd64.tar.gz | tar xz"; \
	  echo "  make e2e-kind E2E_TEST=\$$PWD/kubernetes/test/bin/e2e.test"; \
	  exit 1; }
	@mkdir -p $(E2E_REPORT_DIR)
	$(E2E_TEST) \
	  --kubeconfig="$${KUBECONFIG:-$$HOME/.kube/config}" \
	  --provider=skeleton \
	  --ginkgo.focus='$(E2E_FOCUS)' \
	  --ginkgo.skip='$(E2E_SKIP)' \
	  --ginkgo.timeout=$(E2E_TIMEOUT) \
	  --ginkgo.v \
	  --report-dir=$(E2E_REPORT_DIR)

# The agent must be gone before cleanup runs, or it would put its rules straight back: the
# foreground cascade returns only once every agent pod has terminated.
# Cleanup runs on every node (manifests/cleanup/); only when all nodes report success are the
# remaining objects deleted. A node whose cleanup fails leaves the namespace in place for its logs.
undeploy: $(RENDER_DIR)/cleanup/kustomization.yaml
	$(KUBECTL) -n $(NAMESPACE) delete daemonset/palisade --ignore-not-found \
	  --cascade=foreground --wait=true --timeout=$(ROLLOUT_TIMEOUT)
	$(KUBECTL) apply -k $(RENDER_DIR)/cleanup
	@$(KUBECTL) -n $(NAMESPACE) rollout status daemonset/palisade-cleanup --timeout=$(ROLLOUT_TIMEOUT) || { \
	  echo "cleanup did not finish on every node; see:"; \
	  echo "  $(KUBECTL) -n $(NAMESPACE) logs -l app.kubernetes.io/component=cleanup -c cleanup --prefix"; \
	  exit 1; }
	$(KUBECTL) delete -k $(RENDER_DIR)/cleanup --ignore-not-found --wait=true
	$(KUBECTL) delete -k manifests/ --ignore-not-found --wait=true
