# Sourced by scripts/test-fresh-machine, scripts/test-release, scripts/build-layer and scripts/test-docker-build:
# Debian roots from the mirror (debootstrap), cached as tarballs; the Debian 11 suite (glibc 2.31, the oldest the
# mirror serves) the release layer is tested in; and the qemu-aarch64 binfmt entry that runs an arm64 root on an
# x86_64 host.

OLD_ROOT_SUITE=bullseye
# The Debian the release layer is built on: Dockerfile.build's base, and the arm64 root that runs Nuitka. One suite
# for both, so both give the same binutils (strip) and the same bytes.
BUILD_ROOT_SUITE=bookworm
DEBIAN_MIRROR=${PSCACHE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT_CACHE=${PSCACHE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pscache}
BINFMT=/proc/sys/fs/binfmt_misc
binfmt_registered_here=0

# binfmt_on: run aarch64 ELF files through qemu-aarch64-static (F: the interpreter is opened now, so it works
# inside a chroot). Machine-wide while it lasts: binfmt_off removes it again (only if this shell added it).
binfmt_on() {
    local qemu
    qemu=$(command -v qemu-aarch64-static) || { echo "qemu-aarch64-static missing (scripts/system-packages release-arm64)" >&2; return 1; }
    [[ -e $BINFMT/register ]] || mount -t binfmt_misc binfmt_misc "$BINFMT"
    if [[ ! -e $BINFMT/qemu-aarch64 ]]; then
        printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:'"$qemu"':F' \
            >"$BINFMT/register"
        binfmt_registered_here=1
    fi
}

binfmt_off() {
    if [[ $binfmt_registered_here == 1 && -e $BINFMT/qemu-aarch64 ]]; then
        echo -1 >"$BINFMT/qemu-aarch64"
        binfmt_registered_here=0
    fi
}

# debian_root_tarball SUITE DEBARCH [PACKAGES]: path of the cached root (minbase + PACKAGES, comma-separated),
# built once per key (suite, mirror, architecture, packages). A foreign architecture needs binfmt_on first.
debian_root_tarball() {
    local suite=$1 debarch=$2 packages=${3:-} key tarball build include=()
    key=$(printf '%s\n' "$suite" "$DEBIAN_MIRROR" "$debarch" minbase ${packages:+"$packages"} | sha256sum | cut -c1-12)
    tarball=$ROOT_CACHE/debian-root-$suite-$debarch-$key.tar
    if [[ ! -f $tarball ]]; then
        echo "== debootstrap $suite ($debarch, minbase${packages:+ + $packages}), once per key $key" >&2
        build=$(mktemp -d /var/tmp/pscache-root-build.XXXXXX)
        [[ -n $packages ]] && include=(--include="$packages")
        if [[ $debarch == amd64 ]]; then
            nice -n 19 ionice -c3 debootstrap --variant=minbase --arch="$debarch" ${include[@]+"${include[@]}"} \
                "$suite" "$build/root" "$DEBIAN_MIRROR" >"$build/log" 2>&1
        else
            nice -n 19 ionice -c3 debootstrap --foreign --variant=minbase --arch="$debarch" ${include[@]+"${include[@]}"} \
                "$suite" "$build/root" "$DEBIAN_MIRROR" >"$build/log" 2>&1 &&
                nice -n 19 chroot "$build/root" /debootstrap/debootstrap --second-stage >>"$build/log" 2>&1
        fi || { tail -n 30 "$build/log" >&2; rm -rf "$build"; return 1; }
        rm -rf "$build/root/var/cache/apt/archives/"*.deb
        mkdir -p "$ROOT_CACHE"
        tar -C "$build/root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf "$build"
    fi
    echo "$tarball"
}

# debian_root_hosts ROOT: the /etc/hosts every installed system has (debootstrap writes none), so `localhost`
# resolves in the root.
debian_root_hosts() {
    printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$1/etc/hosts"
}
