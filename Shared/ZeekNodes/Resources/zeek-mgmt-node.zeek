##! Loaded into every Zeek node that zeek-mgmt's supervisor-service runs, after the
##! operator's own scripts. It makes the node a participant of the Management Node API
##! without Kafka: the host's relay (inside supervisor-service) connects to the node's
##! WebSocket API on 127.0.0.1, sends Management::Node::API requests to the node's request
##! topic, and receives responses and the node's hello on the relay topic.
##!
##! Environment, set by the supervisor:
##!   ZEEK_MGMT_WEBSOCKET_PORT   the local port to serve the relay on; unset for a node the
##!                              relay reaches through another node's WebSocket
##!
##! Zeek 8.0 ships the Management framework's API declarations; later versions do not, so
##! the declarations below are only made when Zeek has none.

@load base/frameworks/cluster

@ifndef ( Management::Node::API::node_dispatch_request )
module Management;

export {
	## The outcome of a request (Zeek's Management::Result).
	type Result: record {
		reqid: string;
		success: bool &default=T;
		instance: string &optional;
		data: any &optional;
		error: string &optional;
		node: string &optional;
	};
}

module Management::Node::API;

export {
	global node_dispatch_request: event(reqid: string, action: vector of string,
	    nodes: set[string] &default=set());
	global node_dispatch_response: event(reqid: string, result: Management::Result);
	global notify_node_hello: event(node: string);
}
@endif

module ZeekMgmt;

export {
	## Topic on which the relay publishes requests for this node.
	const request_topic = "zeek-mgmt/node/" + Cluster::node + "/request" &redef;

	## Topic the relay subscribes to: this node's responses and hello.
	const relay_topic = "zeek-mgmt/node/" + Cluster::node + "/relay" &redef;

	## Names of the cluster nodes this node is connected to right now. The manager's
	## value shows at a glance whether the Zeek cluster has formed
	## (``get-id-value ZeekMgmt::connected_nodes``).
	global connected_nodes: set[string] = set();
}

# Logs stay in the node's working directory; rotated files go to logs/ under it, and a
# log left open by a node that was killed is rotated there when the node starts again,
# so nothing is lost across restarts. zeekctl's archive-log is not needed.
redef Log::default_rotation_dir = "logs";
redef Log::default_rotation_postprocessor_cmd = "";
redef LogAscii::enable_leftover_log_rotation = T;

function respond(reqid: string, res: Management::Result)
	{
	Cluster::publish(relay_topic, Management::Node::API::node_dispatch_response, reqid, res);
	}

# The value of a global identifier as Zeek's to_json renders it, with the errors Zeek's own
# Management node gives.
function get_id_value(reqid: string, action: vector of string)
	{
	local res = Management::Result($reqid=reqid, $node=Cluster::node);

	if ( |action| < 2 )
		{
		res$success = F;
		res$error = "get_id_value expects name of global identifier";
		respond(reqid, res);
		return;
		}

	local val = lookup_ID(action[1]);

	# lookup_ID() returns these strings when the ID is unknown or has no value.
	if ( type_name(val) == "string" )
		{
		local valstr: string = val;
		if ( valstr == "<unknown id>" || valstr == "<no ID value>" )
			{
			res$success = F;
			res$error = valstr[1:-1];
			}
		}

	if ( res$success )
		res$data = to_json(val);

	respond(reqid, res);
	}

event Management::Node::API::node_dispatch_request(reqid: string, action: vector of string,
    nodes: set[string])
	{
	if ( |nodes| > 0 && Cluster::node !in nodes )
		return;

	if ( |action| == 0 )
		{
		respond(reqid, Management::Result($reqid=reqid, $node=Cluster::node, $success=F,
		    $error="no dispatch arguments provided"));
		return;
		}

	switch ( action[0] )
		{
		case "get_id_value":
			get_id_value(reqid, action);
			break;
		default:
			respond(reqid, Management::Result($reqid=reqid, $node=Cluster::node, $success=F,
			    $error=fmt("dispatch %s unknown", action[0])));
			break;
		}
	}

event Cluster::websocket_client_added(endpoint: Cluster::EndpointInfo, subscriptions: string_vec)
	{
	for ( i in subscriptions )
		{
		if ( subscriptions[i] == relay_topic )
			{
			Cluster::publish(relay_topic, Management::Node::API::notify_node_hello, Cluster::node);
			return;
			}
		}
	}

event Cluster::node_up(name: string, id: string)
	{
	add connected_nodes[name];
	}

event Cluster::node_down(name: string, id: string)
	{
	delete connected_nodes[name];
	}

event zeek_init() &priority=-10
	{
	Cluster::subscribe(request_topic);

	# Without a port the relay reaches this node through another node's WebSocket (a node
	# that takes log writes on ZeroMQ, whose own WebSocket server would bind its log socket
	# twice): requests still arrive on request_topic, through the manager's proxy.
	local port_text = getenv("ZEEK_MGMT_WEBSOCKET_PORT");
	if ( port_text == "" )
		return;

	if ( ! Cluster::listen_websocket([$listen_addr=127.0.0.1, $listen_port=to_port(port_text + "/tcp")]) )
		Reporter::fatal(fmt("cannot serve the management relay on 127.0.0.1:%s", port_text));
	}
