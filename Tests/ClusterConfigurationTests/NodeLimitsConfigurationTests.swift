import ClusterConfiguration
import Foundation
import ManagementTypes
import Testing

/// A node's process limits in the configuration file, written as Zeek's zeek.conf writes them.
@Suite("Node limits in the cluster configuration file")
struct NodeLimitsConfigurationTests: ReadsConfigurationFiles {
    func worker(_ lines: String...) -> String {
        "[w]\ninstance = i\nrole = worker\n" + lines.map { $0 + "\n" }.joined()
    }

    @Test func readsTheKeysAsZeekConfReadsThem() throws {
        let reading = try read(worker("memory_max = 4G", "nice = 5", "cpu_set = 0-8:2,10", "restart_interval_sec = 3"))
        let node = try #require(reading.configuration.nodes.first)
        #expect(node.limits == NodeLimits(memoryMax: 4 << 30, nice: 5, cpuSet: [0, 2, 4, 6, 8, 10], restartIntervalSec: 3))
        #expect(reading.warnings.isEmpty, "the limit keys are known: \(reading.warnings)")
        #expect(try read(worker()).configuration.nodes.first?.limits == nil, "no keys, no limits")
        #expect(try read(worker("memory_max =")).configuration.nodes.first?.limits == nil, "an empty value is unset, as in zeek.conf")
    }

    @Test func memoryTakesBytesOrASystemdSuffix() {
        #expect(NodeLimits.memory("1234") == 1234)
        #expect(NodeLimits.memory("512K") == 512 << 10)
        #expect(NodeLimits.memory("1234M") == 1234 << 20)
        #expect(NodeLimits.memory("2T") == 2 << 40)
        for bad in ["", "M", "1.5G", "-1", "0", "4g", "4GB", "99999999999999T"] {
            #expect(NodeLimits.memory(bad) == nil, "\(bad) is refused")
        }
        #expect(NodeLimits.memoryText(4 << 30) == "4G" && NodeLimits.memoryText(1536 << 20) == "1536M" && NodeLimits.memoryText(1000) == "1000")
    }

    @Test func cpuListsTakeRangesAndStrides() {
        #expect(NodeLimits.cpuList("0,1,2,3") == [0, 1, 2, 3])
        #expect(NodeLimits.cpuList("0-8:2,10-20:3") == [0, 2, 4, 6, 8, 10, 13, 16, 19], "zeek.conf's own example")
        #expect(NodeLimits.cpuList("3, 1, 3") == [3, 1], "order kept, duplicates dropped")
        for bad in ["", "a", "1-", "3-1", "0-4:0", "0-4:2:1", "1-2-3", "-1", "0-2000"] {
            #expect(NodeLimits.cpuList(bad) == nil, "\(bad) is refused")
        }
        #expect(NodeLimits.cpuListText([0, 1, 2, 3, 6, 8, 9]) == "0-3,6,8,9")
    }

    @Test func badValuesAreRefusedNamingTheKey() {
        #expect(problem(worker("memory_max = lots"))?.contains("invalid memory_max 'lots'") == true)
        #expect(problem(worker("nice = 20"))?.contains("invalid nice value '20': a number from -20 to 19") == true)
        #expect(problem(worker("nice = x"))?.contains("invalid nice value") == true)
        #expect(problem(worker("cpu_set = 4-2"))?.contains("invalid cpu_set '4-2'") == true)
        #expect(problem(worker("restart_interval_sec = -1"))?.contains("invalid restart_interval_sec '-1'") == true)
        #expect(problem(worker("restart_interval_sec = 1.5"))?.contains("invalid restart_interval_sec") == true)
    }

    @Test func limitsRoundTripThroughTheFileAndTheWire() throws {
        let reading = try read(worker("memory_max = 1536M", "nice = -3", "cpu_set = 0-3,6", "restart_interval_sec = 0"))
        let rendered = ClusterConfigurationFile.render(reading.configuration)
        #expect(rendered.contains("memory_max = 1536M") && rendered.contains("cpu_set = 0-3,6") && rendered.contains("restart_interval_sec = 0"), "\(rendered)")
        #expect(try read(rendered).configuration.nodes == reading.configuration.nodes)

        let node = try #require(reading.configuration.nodes.first)
        let json = try ZeekJSON.encodeString(node)
        #expect(json.contains(#""limits":{"cpu_set":[0,1,2,3,6],"memory_max":1610612736,"nice":-3,"restart_interval_sec":0}"#), "\(json)")
        #expect(try ZeekJSON.decode(Management.Node.self, from: Data(json.utf8)) == node)
        // A node without limits looks as it did in contract 3.0.
        var plain = node
        plain.limits = nil
        #expect(!(try ZeekJSON.encodeString(plain)).contains("limits"))
    }
}
