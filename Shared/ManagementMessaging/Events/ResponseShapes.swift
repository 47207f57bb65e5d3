import ManagementTypes

// The few shapes every response of the APIs takes; each gives its failure and success once.

/// A response carrying one `Management::Result`.
public protocol ResultResponse: ManagementResponse {
    init(reqid: String, result: Management.Result)
    var result: Management.Result { get }
}

extension ResultResponse {
    public init(reqid: String, failure error: String, instance: String?) {
        self.init(reqid: reqid, result: Management.Result(reqid: reqid, success: false, instance: instance, error: error))
    }

    public var succeeded: Bool { result.success }
}

/// A response carrying a vector of `Management::Result`.
public protocol ResultsResponse: ManagementResponse {
    init(reqid: String, results: [Management.Result])
    var results: [Management.Result] { get }
}

extension ResultsResponse {
    public init(reqid: String, failure error: String, instance: String?) {
        self.init(reqid: reqid, results: [Management.Result(reqid: reqid, success: false, instance: instance, error: error)])
    }

    public var succeeded: Bool { results.allSatisfy(\.success) }
}

/// A legacy response carrying one `ClusterController::Types::Result`.
public protocol LegacyResultResponse: ManagementResponse {
    init(reqid: String, result: ClusterController.Types.Result)
    var result: ClusterController.Types.Result { get }
}

extension LegacyResultResponse {
    public init(reqid: String, failure error: String, instance: String?) {
        self.init(reqid: reqid, result: ClusterController.Types.Result(reqid: reqid, instance: instance ?? "", success: false, error: error))
    }

    public var succeeded: Bool { result.success }
}

/// A legacy response carrying a vector of `ClusterController::Types::Result` (named `result`).
public protocol LegacyResultsResponse: ManagementResponse {
    init(reqid: String, result: [ClusterController.Types.Result])
    var result: [ClusterController.Types.Result] { get }
}

extension LegacyResultsResponse {
    public init(reqid: String, failure error: String, instance: String?) {
        self.init(reqid: reqid, result: [ClusterController.Types.Result(reqid: reqid, instance: instance ?? "", success: false, error: error)])
    }

    public var succeeded: Bool { result.allSatisfy(\.success) }
}
