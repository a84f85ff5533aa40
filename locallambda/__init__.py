"""The local Lambda that pscache's tests, benchmarks and demo share: never shipped in the layer.

    emulator      the Lambda execution environment (Extensions and Runtime APIs, lifecycle, freeze, reset)
    sized         environments sized like Lambda's: CPU share and memory limit in a cgroup per environment
    report        Lambda's REPORT figures per invoke
    pagecache     cold starts that start cold (files evicted from the page cache)
    procstat      per-process memory and CPU from /proc
    local_aws     moto in server mode, seeded, as the local AWS
    fault_proxy   a loopback proxy in front of it that counts calls and injects faults
    net           loopback HTTP helpers (free ports, GETs, waiting for a server)
    extensions    extensions folders: pscache from source or from an unpacked layer
    runtimes      the example functions as custom runtimes; mariadb: a throwaway MariaDB
"""
