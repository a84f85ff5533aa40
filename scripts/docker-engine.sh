# Sourced by scripts/test-docker-build and scripts/test-container-image: a Docker engine from Debian's packages, for this machine's own use, with
# nothing installed system-wide. The debs (docker.io, containerd, runc, tini) are fetched with `apt-get download`
# and unpacked with `dpkg -x` into the cache, keyed by their versions; dockerd keeps its images and BuildKit's cache
# under the cache too (so a rerun reuses the toolchain step), and listens only on a socket of its own.
# No bridge and no iptables: builds use --network host, so nothing of the machine's network is changed.

DOCKER_CACHE=${PSCACHE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pscache}
DOCKER_DEBS=(docker.io containerd runc tini)
docker_engine_pid=""

# docker_engine_unpacked: the folder holding the unpacked debs (once per version set); prints it.
docker_engine_unpacked() {
    local versions key dir tmp
    versions=$(apt-cache policy "${DOCKER_DEBS[@]}" | awk '/^[^ ]/ {p=$1} /Candidate:/ {print p $2}')
    key=$(printf '%s\n' "$versions" | sha256sum | cut -c1-12)
    dir=$DOCKER_CACHE/docker-engine-$key
    if [[ ! -x $dir/usr/sbin/dockerd ]]; then
        echo "== docker engine: unpacking ${DOCKER_DEBS[*]} from Debian's packages ($key)" >&2
        tmp=$(mktemp -d /var/tmp/pscache-docker-debs.XXXXXX)
        (cd "$tmp" && apt-get download "${DOCKER_DEBS[@]}" >/dev/null 2>&1) ||
            { rm -rf "$tmp"; echo "apt-get download ${DOCKER_DEBS[*]} failed" >&2; return 1; }
        rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
        for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$dir.tmp"; done
        rm -rf "$tmp" "$dir" && mv "$dir.tmp" "$dir"
    fi
    echo "$dir"
}

# docker_engine_start: start dockerd, point DOCKER_HOST and PATH (its own client first) at it, wait until it
# answers. docker_engine_stop ends it (call it from an EXIT trap).
docker_engine_start() {
    local dir run i
    dir=$(docker_engine_unpacked) || return 1
    run=$(mktemp -d /var/tmp/pscache-dockerd.XXXXXX)
    mkdir -p "$DOCKER_CACHE/docker-data"
    export PATH="$dir/usr/sbin:$dir/usr/bin:$PATH" DOCKER_HOST="unix://$run/docker.sock"
    dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
        --data-root "$DOCKER_CACHE/docker-data" --exec-root "$run/exec" --pidfile "$run/dockerd.pid" \
        -H "$DOCKER_HOST" >"$run/dockerd.log" 2>&1 &
    docker_engine_pid=$!
    DOCKER_ENGINE_RUN=$run
    for i in $(seq 1 60); do
        docker version >/dev/null 2>&1 && return 0
        kill -0 "$docker_engine_pid" 2>/dev/null || break
        sleep 0.5
    done
    tail -n 20 "$run/dockerd.log" >&2
    echo "dockerd did not start (log above)" >&2
    return 1
}

docker_engine_stop() {
    [[ -n $docker_engine_pid ]] || return 0
    kill "$docker_engine_pid" 2>/dev/null || true
    wait "$docker_engine_pid" 2>/dev/null || true
    docker_engine_pid=""
    # Once a container has run (--network host), dockerd leaves its default network namespace mounted here.
    local ns
    for ns in "$DOCKER_ENGINE_RUN"/exec/netns/*; do
        mountpoint -q "$ns" 2>/dev/null && umount "$ns"
    done
    rm -rf "$DOCKER_ENGINE_RUN"
}

# docker_image_from_root TARBALL NAME [PLATFORM]: `docker import` of a root tarball (no registry needed), once per
# tarball; PLATFORM (e.g. linux/arm64) labels a foreign root's image. Prints the image's name.
docker_image_from_root() {
    local tarball=$1 name=$2 platform=${3:-} tag
    tag="$name:$(basename "$tarball" .tar | sha256sum | cut -c1-12)"
    docker image inspect "$tag" >/dev/null 2>&1 ||
        docker import ${platform:+--platform "$platform"} "$tarball" "$tag" >/dev/null
    echo "$tag"
}
