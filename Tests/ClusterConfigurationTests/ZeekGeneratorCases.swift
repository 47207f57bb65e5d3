import Testing

// The zeek.conf cases of Zeek's own generator tests, copied from zeek/zeek
// (commit a13de64fbb, `testing/btest/tools/systemd-generator/`; BSD license, see Zeek's COPYING)
// so that ZeekConfConformanceTests can run Zeek's generator and ours on the same files.
// Each btest file's `@TEST-START-FILE` blocks become one case per file, or one per directory
// for the multi-host layouts; its `%INPUT` variants (split at `@TEST-START-NEXT`) one each.

/// One of Zeek's generator test inputs: a single zeek.conf, or a directory of host files.
struct ZeekGeneratorCase: Sendable, CustomTestStringConvertible {
    /// `<btest name>:<file or directory>`, or `<btest name>#<variant>`.
    var name: String
    /// File name to content; several files form a cluster directory.
    var files: [String: String]
    /// Whether the files form a directory of `<host>.zeek.conf` files.
    var isDirectory: Bool { files.count > 1 }
    var testDescription: String { name }
}

extension ZeekGeneratorCase {
    static let all: [ZeekGeneratorCase] = [
        ZeekGeneratorCase(name: "test-all-options:config1", files: [
            "config1": #"""
[zeek]
base_dir = /opt/zeek

args = local tuning/json-logs

env =
  GLOBAL_ENV=1
  LD_PRELOAD=/usr/local/lib/libjemalloc.so

cluster_backend_args =
  policy/frameworks/cluster/backend/broker
  Broker::disable_ssl=T

## Manager configuration
manager = 1
manager_cpu_set = 1-12
manager_memory_max = 1024M
manager_args =
  loaded-by-manager-first
  loaded-by-manager-second

manager_env =
  I_AM_MANAGER=1
  MORE_MANAGER=2

## Logger configuration
loggers = 3
logger_memory_max = 512M
logger_cpu_set = 0,1
logger_args =
  loaded-by-logger-1
  loaded-by-logger-2
logger_env =
  I_AM_LOGGER=1
  MORE_LOGGER=2

## Proxy configuration
proxies = 5
proxy_memory_max = 1024M
proxy_cpu_set = 7,8
proxy_args =
  loaded-by-proxy-1
  loaded-by-proxy-2
proxy_env =
  I_AM_PROXY=1
  MORE_PROXY=2

## Archiver configuration.
archiver = 1
archiver_cpu_set = 4,3,2,1
archiver_memory_max = 64M
archiver_nice = 3
archiver_args =
  -i 3
  -d

archiver_env =
  I_AM_ARCHIVER=1
  MORE_ACHIVER=2

[interface eth0]
interface = netmap::eth0}${worker_index0}
workers = 2
workers_cpu_list = 2,3
worker_nice = -1
worker_memory_max = 256M
worker_args = worker-eth0-1 worker-eth0-2

[interface eth1]
interface = af_packet::eth1
worker_args = AF_Packet::fanout_id=42 ignore_checksums=T worker-eth1-1 worker-eth1-2
workers = 2
workers_cpu_list = 4,5
worker_nice = -2
worker_memory_max = 1G
worker_numa_policy = local
"""#,
        ]),
        ZeekGeneratorCase(name: "test-archiver-custom:config1", files: [
            "config1": #"""
env =
  LD_PRELOAD=/usr/local/lib/libjemalloc.so

archiver = /usr/bin/my-archiver
archiver_args =
  my
  custom
  args
  -d
archiver_env =
  I_AM_ARCHIVER=1

base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-archiver:config1", files: [
            "config1": #"""
archiver = 1
archiver_args = -i 1

base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-cluster-ipv6:etc/cluster", files: [
            "mgr.zeek.conf": #"""
[zeek]
manager = 1
loggers = 1
proxies = 2
archiver = 1

address = [2001:400:211::121]
base_dir = /opt/zeek
"""#,
            "wkr-1.zeek.conf": #"""
[zeek]
address = [2001:400:211::122]
base_dir = /opt/zeek

[interface eth0]
interface = eth0
workers = 4
"""#,
            "wkr-2.zeek.conf": #"""
[zeek]
address = [2001:400:211::123]
base_dir = /opt/zeek

[interface eth0]
workers = 4
interface = af_packet::eth0

[interface eth1]
workers = 4
interface = af_packet::eth1
worker_args = AF_Packet::fanout_id=42
"""#,
        ]),
        ZeekGeneratorCase(name: "test-cluster-layout:config1", files: [
            "config1": #"""
interface = eth0
workers = 1
manager = 1
loggers = 1
proxies = 1

cluster_layout = /test/etc/zeek/cluster-layout.zeek
base_dir = /test/opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-cluster-node-prefix:config1", files: [
            "config1": #"""
manager  = 1
loggers  = 1
proxies  = 1
archiver = 1
cluster_node_prefix = c-mgr
base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-cpulist:config1", files: [
            "config1": #"""
interface = eth0
workers = 4
workers_cpu_list = 0-1,8-9
proxies = 1
loggers = 1

base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-cpulist:config2", files: [
            "config2": #"""
interface = eth0
workers = 8
workers_cpu_list = 128-240:16
proxies = 1
loggers = 1

base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-cpulist:config3", files: [
            "config3": #"""
# interface named like worker :-)
interface = eth0
workers = 4
workers_cpu_list = 42,1-2,43
proxies = 1
loggers = 1

base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-empty-zeek-section:config1", files: [
            "config1": #"""
[zeek]

[interface eth0]
interface = eth0
workers = 2
"""#,
        ]),
        ZeekGeneratorCase(name: "test-errors#1", files: [
            "zeek.conf": #"""
#
#
manager_nice =
proxy_nice = 100
logger_nice = abc
worker_nice = cba
archiver_nice = 10
"""#,
        ]),
        ZeekGeneratorCase(name: "test-errors#2", files: [
            "zeek.conf": #"""
manager_memory_max =
logger_memory_max = 17P
worker_memory_max = bug
proxy_memory_max = = -23
archiver_memory_max = 64M
"""#,
        ]),
        ZeekGeneratorCase(name: "test-errors#3", files: [
            "zeek.conf": #"""
manager_cpu_set  = a,b,c
logger_cpu_set =
proxy_cpu_set = -1,-2
archiver_cpu_set = 1,2,3
"""#,
        ]),
        ZeekGeneratorCase(name: "test-errors#4", files: [
            "zeek.conf": #"""
interface = eth0
"""#,
        ]),
        ZeekGeneratorCase(name: "test-errors#5", files: [
            "zeek.conf": #"""
workers = 8
"""#,
        ]),
        ZeekGeneratorCase(name: "test-errors#6", files: [
            "zeek.conf": #"""
cluster_node_prefix = /a
"""#,
        ]),
        ZeekGeneratorCase(name: "test-errors#7", files: [
            "zeek.conf": #"""
cluster_node_prefix = a b
"""#,
        ]),
        ZeekGeneratorCase(name: "test-errors#8", files: [
            "zeek.conf": #"""
cluster_node_prefix = a.b
"""#,
        ]),
        ZeekGeneratorCase(name: "test-errors#9", files: [
            "zeek.conf": #"""
address = [1.2.3.4
"""#,
        ]),
        ZeekGeneratorCase(name: "test-errors#10", files: [
            "zeek.conf": #"""
address = 1.2.3.4]
"""#,
        ]),
        ZeekGeneratorCase(name: "test-errors#11", files: [
            "zeek.conf": #"""
address = 10.0.0.256
"""#,
        ]),
        ZeekGeneratorCase(name: "test-errors#12", files: [
            "zeek.conf": #"""
address = [a::yy]
"""#,
        ]),
        ZeekGeneratorCase(name: "test-ext-path:config1", files: [
            "config1": #"""
interface = eth0
workers = 1
manager = 1
loggers = 1
proxies = 1

ext_path = /opt/napatech/mybin:/usr/local/mybin2

base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-ext-zeek-path:config1", files: [
            "config1": #"""
interface = eth0
workers = 1
manager = 1
loggers = 1
proxies = 1

ext_zeek_path = /opt/myzeek/mypackages:/opt/morepackages

base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-interface-substitution:config1", files: [
            "config1": #"""
# You usually want to use worker_index0
interface = netmap::eth1}${worker_index}
workers = 4
workers_cpu_list = 7,8
proxies = 1
loggers = 1

base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-interface-substitution:config2", files: [
            "config2": #"""
interface = netmap::eth1}${worker_index0}@${worker_cpu}
workers = 4
workers_cpu_list = 7,8
proxies = 1
loggers = 1

base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-interface-substitution:config3", files: [
            "config3": #"""
# Testing interface_tag substitution.
[zeek]
base_dir = /opt/zeek

[interface eth1]
interface = netmap::eth1}${host_worker_index0}
workers = 3

[interface eth2]
interface = netmap::eth2}${host_worker_index0}
workers = 3
"""#,
        ]),
        ZeekGeneratorCase(name: "test-minimal-cluster:etc/cluster", files: [
            "mgr.zeek.conf": #"""
manager  = 1
loggers  = 1
proxies  = 2
archiver = 1

address = 10.0.0.1
base_dir = /opt/zeek
"""#,
            "wkr-1.zeek.conf": #"""
manager = 0
loggers = 0
proxies = 0
archiver = 0

workers = 4
interface = eth0

address = 10.0.0.2
base_dir = /opt/zeek
"""#,
            "wkr-2.zeek.conf": #"""
manager = 0
loggers = 0
proxies = 0
archiver = 0

workers = 4
interface = eth0

address = 10.0.0.3
base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-minimal-no-manager:config1", files: [
            "config1": #"""
# Do not run a manager!
interface = eth0
workers = 1
loggers = 1
proxies = 1
manager = 0
cluster_layout = /test/etc/zeek/custom-cluster-layout.zeek
base_dir = /test/opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-minimal:config1", files: [
            "config1": #"""
interface = eth0
workers = 1
manager = 1
loggers = 1
proxies = 1
archiver = 1
base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#1", files: [
            "zeek.conf": #"""
#
#

# missing interface in interface section
[interface eth1]
workers = 4
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#2", files: [
            "zeek.conf": #"""
# missing interface section
[interface eth1]
interface = eth1
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#3", files: [
            "zeek.conf": #"""
[interface eth1]
interface = eth1
workers = 4

# Do not allow loggers in eth2
[interface eth2]
interface = eth2
loggers = 7
workers = 4
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#4", files: [
            "zeek.conf": #"""
[interface eth1]
interface = eth1
workers = 4

# Do not allow args in eth2
[interface eth2]
interface = eth2
workers = 4
args =-C
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#5", files: [
            "zeek.conf": #"""
[interface eth1]
interface = eth1
workers = 4
worker_numa_policy = local

# Unsupported workers_numa_policy (and deprecated key)
[interface eth2]
interface = eth2
workers = 4
workers_numa_policy = random
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#6", files: [
            "zeek.conf": #"""
[interface eth1]
interface = eth1
workers = 4

# Invalid workers_cpu_list in second interface.
[interface eth2]
interface = eth2
workers = 4
workers_cpu_list = a,b,c
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#7", files: [
            "zeek.conf": #"""
# Check three interfaces
[interface eth1]
interface = eth1
workers = 4

[interface eth2]
interface = eth2
workers = 4

[interface eth3]
interface = eth3
workers = 4
proxies = 7
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#8", files: [
            "zeek.conf": #"""
# Cannot mix unnamed and interface section
loggers = 3

[interface eth0]
interface = eth0
workers = 2
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#9", files: [
            "zeek.conf": #"""
# Bad interface tag
[interface eth!a]
interface = eth0
workers = 2
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#10", files: [
            "zeek.conf": #"""
# Bad interface tag
[interface eth eth]
interface = eth0
workers = 2
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#11", files: [
            "zeek.conf": #"""
# Bad interface tag
[interface ETH]
interface = eth0
workers = 2
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#12", files: [
            "zeek.conf": #"""
# Duplicate option
[interface eth0]
interface = eth0
workers = 2
workers = 2
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#13", files: [
            "zeek.conf": #"""
# Missing equals in option
[interface eth0]
interface = eth0
workers 2
workers = 2
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#14", files: [
            "zeek.conf": #"""
# Missing equals in option
[zeek]
loggers 7

[interface eth0]
interface = eth0
workers = 2
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#15", files: [
            "zeek.conf": #"""
[zeek]
loggers = 7

[interface eth0]
workers = 2
interface =
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface-errors#16", files: [
            "zeek.conf": #"""
[zeek]
loggers = 7

[interface eth0]
interface =
"""#,
        ]),
        ZeekGeneratorCase(name: "test-multi-interface:config1", files: [
            "config1": #"""
[zeek]
manager = 1
loggers = 3
proxies = 5

base_dir = /opt/zeek

[interface eth0]
interface = netmap::eth0}${worker_index0}
workers = 2
workers_cpu_list = 2,3
worker_nice = -1
worker_memory_max = 256M

[interface eth1]
interface = af_packet::eth1
worker_args = AF_Packet::fanout_id=42 ignore_checksums=T
workers = 2
workers_cpu_list = 4,5
worker_nice = -2
worker_memory_max = 1G
worker_numa_policy = local

[interface eth2]
interface = af_packet::eth2
worker_args = AF_Packet::fanout_id=43 ignore_checksums=T
workers = 4
workers_cpu_list = 8-12
worker_nice = -3
worker_memory_max = 2G
worker_numa_policy = default
"""#,
        ]),
        ZeekGeneratorCase(name: "test-no-loggers:config1", files: [
            "config1": #"""
manager  = 1
loggers  = 0
proxies  = 1

interface = eth0
workers = 1

base_dir = /test/opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-no-workers:config1", files: [
            "config1": #"""
manager = 1
loggers = 3
proxies = 4
archiver = 1

# This is allowed in the section-less format
workers = 0
interface =

base_dir = /test/opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-no-zeek-section:config1", files: [
            "config1": #"""
[interface eth0]
interface = eth0
workers = 2
"""#,
        ]),
        ZeekGeneratorCase(name: "test-only-manager:config1", files: [
            "config1": #"""
manager  = 1
loggers  = 0
proxies  = 0
archiver = 0

cluster_layout = /test/etc/zeek/cluster-layout.zeek
base_dir = /test/opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-only-workers:config1", files: [
            "config1": #"""
interface = eth0
workers = 2

cluster_layout = /opt/zeek/etc/custom-cluster-layout.zeek
base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-worker-env:config1", files: [
            "config1": #"""
[interface eth0]
interface = eth0
workers = 2
worker_env = THIS_IS_OK=42
  TEST_TEMPLATE=worker-${interface_section_name}-${worker_index0}-${worker_index}
  TEST_GLOBAL_WORKER_INDICES=${host_worker_index0}.${host_worker_index}

[interface eth1]
interface = eth1
workers = 2
worker_env =
  TEST_TEMPLATE=worker-${interface_section_name}-${worker_index0}-${worker_index}
  TEST_GLOBAL_WORKER_INDICES=${host_worker_index0}.${host_worker_index}
"""#,
        ]),
        ZeekGeneratorCase(name: "test-zeek-cluster-layout-generator-config:zeek.conf", files: [
            "zeek.conf": #"""
interface = eth0
workers = 1
manager = 1
loggers = 1
proxies = 1
"""#,
        ]),
        ZeekGeneratorCase(name: "test-zeek-cluster-layout-generator-config:zeek-no-metrics.conf", files: [
            "zeek-no-metrics.conf": #"""
interface = eth0
workers = 1
manager = 1
loggers = 1
proxies = 1
address = [::1]
port = 10000
metrics_port = 0
"""#,
        ]),
        ZeekGeneratorCase(name: "test-zeek-cluster-layout-generator-empty-cluster-node-prefix:my-cluster", files: [
            "mug-manager.zeek.conf": #"""
manager = 1
loggers = 1
proxies = 2
cluster_node_prefix =
cluster_address = 10.0.0.1
"""#,
            "mug-worker-1.zeek.conf": #"""
cluster_node_prefix = worker-host-1
cluster_address = 10.0.0.2
interface = eth0
workers = 2
"""#,
            "mug-worker-2.zeek.conf": #"""
cluster_node_prefix = worker-host-2
cluster_address = 10.0.0.2
interface = eth0
workers = 2
"""#,
        ]),
        ZeekGeneratorCase(name: "test-zeek-cluster-layout-generator-multi-host-mix-address:my-cluster", files: [
            "c-mgr.zeek.conf": #"""
manager = 1
loggers = 1
proxies = 1
cluster_address = 10.0.0.3
"""#,
            "wkr-1.zeek.conf": #"""
interface = eth0
workers = 2
"""#,
            "wkr-2.zeek.conf": #"""
interface = eth0
workers = 2
"""#,
        ]),
        ZeekGeneratorCase(name: "test-zeek-cluster-layout-generator-multi-host-no-address:my-cluster", files: [
            "c-mgr.zeek.conf": #"""
manager = 1
loggers = 1
proxies = 1
"""#,
            "wkr-1.zeek.conf": #"""
interface = eth0
workers = 2
"""#,
            "wkr-2.zeek.conf": #"""
interface = eth0
workers = 2
"""#,
        ]),
        ZeekGeneratorCase(name: "test-zeek-cluster-layout-generator-multi-host-two-managers:my-cluster", files: [
            "c-mgr.zeek.conf": #"""
manager = 1
address = 10.0.0.1
"""#,
            "wkr-1.zeek.conf": #"""
workers = 2
interface = eth0

manager = 1
address = 10.0.0.2
"""#,
            "wkr-2.zeek.conf": #"""
workers = 2
interface = eth0

address = 10.0.0.3
"""#,
        ]),
        ZeekGeneratorCase(name: "test-zeek-cluster-layout-generator-multi-host:my-cluster", files: [
            "c-mgr.zeek.conf": #"""
manager = 1
loggers = 1
proxies = 1
address = 10.0.0.1
"""#,
            "wkr-1.zeek.conf": #"""
interface = eth0
workers = 2
address = 10.0.0.2
"""#,
            "wkr-2.zeek.conf": #"""
interface = eth0
workers = 2
address = 10.0.0.3
"""#,
        ]),
        ZeekGeneratorCase(name: "test-zeek-systemd-generator-defaults:config1", files: [
            "config1": #"""
base_dir = /opt/zeek
"""#,
        ]),
        ZeekGeneratorCase(name: "test-zeek-systemd-generator-three-dirs:config1", files: [
            "config1": #"""
interface = af_packet::eth0
workers = 1
manager = 1
proxies = 1
loggers = 1
"""#,
        ]),
        ZeekGeneratorCase(name: "test-zeek-systemd-generator:config1", files: [
            "config1": #"""
interface = af_packet::eth0
workers = 4
workers_cpu_list = 13,14
manager = 1
proxies = 2
loggers = 3

user = test-zeek-user
group = test-zeek-group

args = ignore_checksums=T
cluster_backend_args = the-cluster-backend -B plugin-Zeek-Cluster_Backend_ZeroMQ

address = 127.0.2.1
port = 20000
metrics_port = 30000
metrics_address = 10.0.0.1

manager_nice = -1
proxy_nice = -2
logger_nice = -3
worker_nice = -19

manager_memory_max = 2001M
logger_memory_max = 2001000K
proxy_memory_max = 2000000000
worker_memory_max = 1G

base_dir = /opt/zeek
"""#,
        ]),
    ]
}
