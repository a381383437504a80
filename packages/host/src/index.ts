export { BRIDGE_FDB_MAX, type BridgePort, type BridgeStats, LearningBridge } from "./bridge.js";
export { attachVif, bootForQueues, detachAndAudit, type KernelMemory, kernelMemory, PAGES_PER_QUEUE, type TeardownAudit } from "./devices.js";
export {
  ETH_HLEN,
  type FrameSpec,
  type FrameVerdict,
  formatMac,
  frameHeaderLen,
  ipv4HeaderChecksum,
  type L4,
  l4ChecksumOffset,
  MAX_FRAME,
  minFrameSize,
  payloadOffset,
  STAMP_LEN,
  verifyFrame,
  verifyFrameViews,
  writeFrame,
  xenMac,
} from "./frame.js";
export { COST_NETIF_RECEIVE, COST_PKTGEN_XMIT, defaultLayout, FrameReceiver, type FrameReceiverOptions, type GeneratorConfig, GSO_MSS, l4Of, MAX_LINEAR_FRAME, TrafficGenerator, windowPackets } from "./generator.js";
export { DEFAULT_HOST_FRAMES, DEFAULT_SLICE_EVENTS, Host, HOST_RUNNERS, type HostOptions, type HostRunner, type Kernel, type RunHooks, type SliceService } from "./host.js";
export { type CaptureDirection, LINKTYPE_ETHERNET, PCAP_MAGIC_NS, PCAP_SNAPLEN, PcapWriter, VifCapture } from "./pcap.js";
export { MAX_FLOWS, TrafficSink } from "./sink.js";
export {
  ACK_FRAME,
  COST_TCP_ACK,
  COST_TCP_RCV,
  COST_TCP_SENDMSG,
  COST_TCP_XMIT,
  COST_USERCOPY,
  IPERF_PORT,
  MAX_TCP_FLOWS,
  parseTcpAck,
  type TcpAck,
  TcpBulkReceiver,
  TcpBulkSender,
  type TcpReceiverConfig,
  type TcpReceiverStats,
  type TcpSenderConfig,
  type TcpSenderStats,
  tcpPayload,
  tcpPseudoHeaderSum,
  tcpSegmentLayout,
  writeTcpAck,
} from "./tcp.js";
