"""Vietnamese (first) and English labels for what the agent prints to people."""

from __future__ import annotations

from agent.messages import ProbeReport

STATUS_VI = {"ok": "hoạt động tốt", "degraded": "suy giảm", "down": "hỏng"}
CAUSE_VI = {
    "unreachable": "không kết nối được (mất điện/mạng?)",
    "timeout": "kết nối quá thời gian",
    "rtsp_timeout": "camera không trả lời",
    "auth_failed": "sai tài khoản/mật khẩu",
    "not_found": "sai đường dẫn luồng",
    "rtsp_error": "lỗi giao thức RTSP",
    "no_video": "không có luồng hình",
    "no_keyframe": "luồng không có khung hình chính",
    "decode_error": "không giải mã được hình",
    "unsupported_codec": "chuẩn nén không hỗ trợ",
}
FAULT_VI = {
    "black": "hình đen",
    "covered": "ống kính bị che",
    "blurred": "hình mờ",
    "frozen": "hình bị đứng",
    "moved": "camera bị lệch hướng",
    "noisy": "hình nhiễu",
    "too_dark": "hình quá tối",
    "too_bright": "hình quá sáng",
    "color_cast": "sai màu",
    "low_resolution": "độ phân giải thấp hơn khai báo",
    "low_fps": "tốc độ khung hình thấp",
    "no_audio": "mất âm thanh",
}


def what_is_wrong(report: ProbeReport, sep: str = "; ") -> str:
    """The report's cause and faults in Vietnamese, e.g. 'hình mờ; hình nhiễu'."""
    what = [CAUSE_VI[report.cause]] if report.cause else []
    what += [FAULT_VI[f] for f in report.faults]
    return sep.join(what)
