# Sourced by scripts/test-release and scripts/build-layer: Debian 11 roots (glibc 2.31, the oldest the mirror
# serves) cached as tarballs, and the qemu-aarch64 binfmt entry that runs an arm64 root on an x86_64 host.

OLD_ROOT_SUITE=bullseye
OLD_ROOT_MIRROR=${PSCACHE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
OLD_ROOT_CACHE=${PSCACHE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pscache}
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

# old_root_tarball DEBARCH [PACKAGES]: path of the cached root (minbase + PACKAGES, comma-separated), built once
# per key (suite, mirror, architecture, packages). A foreign architecture needs binfmt_on first.
old_root_tarball() {
    local debarch=$1 packages=${2:-} key tarball build include=()
    key=$(printf '%s\n' "$OLD_ROOT_SUITE" "$OLD_ROOT_MIRROR" "$debarch" minbase ${packages:+"$packages"} | sha256sum | cut -c1-12)
    tarball=$OLD_ROOT_CACHE/old-root-$OLD_ROOT_SUITE-$debarch-$key.tar
    if [[ ! -f $tarball ]]; then
        echo "== debootstrap $OLD_ROOT_SUITE ($debarch, minbase${packages:+ + $packages}), once per key $key" >&2
        build=$(mktemp -d /var/tmp/pscache-oldroot-build.XXXXXX)
        [[ -n $packages ]] && include=(--include="$packages")
        if [[ $debarch == amd64 ]]; then
            nice -n 19 ionice -c3 debootstrap --variant=minbase --arch="$debarch" ${include[@]+"${include[@]}"} \
                "$OLD_ROOT_SUITE" "$build/root" "$OLD_ROOT_MIRROR" >"$build/log" 2>&1
        else
            nice -n 19 ionice -c3 debootstrap --foreign --variant=minbase --arch="$debarch" ${include[@]+"${include[@]}"} \
                "$OLD_ROOT_SUITE" "$build/root" "$OLD_ROOT_MIRROR" >"$build/log" 2>&1 &&
                nice -n 19 chroot "$build/root" /debootstrap/debootstrap --second-stage >>"$build/log" 2>&1
        fi || { tail -n 30 "$build/log" >&2; rm -rf "$build"; return 1; }
        rm -rf "$build/root/var/cache/apt/archives/"*.deb
        mkdir -p "$OLD_ROOT_CACHE"
        tar -C "$build/root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf "$build"
    fi
    echo "$tarball"
}
