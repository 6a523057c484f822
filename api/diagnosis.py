"""What is wrong with a camera or a site, and what the technician should do and bring.

``diagnose`` turns the collector's view of a camera (status, faults, the probe's cause)
into one *problem* key and a text in Vietnamese (first) and English. The problem decides
the grace period before a repair task is raised (``api.task_rules``) and is stored on the
task; the text is what the technician reads on the phone before leaving.

The vocabulary is the agent's (``agent.messages.Cause`` and ``Fault``): a stream-level
cause always wins (no picture at all), then the faults that make a camera ``down``
(black, covered, frozen), then the others, most useful to fix first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class Diagnosis(NamedTuple):
    """A problem key, what to do in Vietnamese, and the same in English."""

    problem: str
    vi: str
    en: str


#: Problem of each probe cause (why no picture could be had).
CAUSE_PROBLEM: dict[str, str] = {
    "unreachable": "offline",
    "timeout": "offline",
    "rtsp_timeout": "not_responding",
    "auth_failed": "auth_failed",
    "not_found": "wrong_path",
    "rtsp_error": "stream_error",
    "no_video": "no_picture",
    "no_keyframe": "no_picture",
    "decode_error": "no_picture",
    "unsupported_codec": "wrong_codec",
}
#: Faults in the order they are worth fixing: the first present is the problem.
FAULT_ORDER: tuple[str, ...] = (
    "black",
    "covered",
    "frozen",
    "moved",
    "blurred",
    "too_dark",
    "too_bright",
    "noisy",
    "color_cast",
    "low_resolution",
    "low_fps",
    "no_audio",
)
UNKNOWN = "unknown_fault"
SITE = "offline_site"

_SPARE_NET = (
    "Mang theo: adapter PoE hoặc nguồn 12V dự phòng, đồng hồ vạn năng, máy test cáp mạng, "
    "đầu RJ45 và kìm bấm mạng, thang.",
    "Bring: a spare PoE adapter or 12 V supply, a multimeter, a cable tester, RJ45 plugs "
    "and a crimping tool, a ladder.",
)
_RESTART = (
    "Khởi động lại camera (rút nguồn/PoE 10 giây rồi cắm lại); nếu vẫn lỗi, cập nhật "
    "firmware hoặc thay camera.",
    "Restart the camera (unplug power/PoE for 10 s); if it persists, update the firmware or "
    "replace the camera.",
)

#: Per problem: (Vietnamese, English) — what is wrong, what to do, what to bring.
ADVICE: dict[str, tuple[str, str]] = {
    "offline": (
        "Camera mất kết nối (mất điện hoặc mất mạng). Kiểm tra nguồn điện và dây mạng: đèn "
        "nguồn của camera, bộ cấp nguồn PoE/adapter, đầu RJ45, cổng trên switch/đầu ghi. "
        + _SPARE_NET[0],
        "The camera is unreachable (no power or no network). Check the power and the network "
        "cable: the camera's power LED, the PoE injector/adapter, the RJ45 plugs, the "
        "switch/NVR port. " + _SPARE_NET[1],
    ),
    "not_responding": (
        "Camera có mạng nhưng không trả lời yêu cầu xem hình (bị treo). " + _RESTART[0],
        "The camera is on the network but does not answer stream requests (hung). " + _RESTART[1],
    ),
    "auth_failed": (
        "Sai tài khoản hoặc mật khẩu xem camera. Kiểm tra mật khẩu camera khai báo trên đầu "
        "ghi (NVR) và cho agent; có thể ai đó đã đổi mật khẩu hoặc camera bị khôi phục cài "
        "đặt gốc. Cần: mật khẩu đúng, điện thoại hoặc máy tính vào được đầu ghi.",
        "Wrong user name or password for the camera. Check the camera password set on the "
        "NVR and given to the agent; someone may have changed it or the camera was reset to "
        "factory settings. Need: the right password, a phone or laptop that can open the NVR.",
    ),
    "wrong_path": (
        "Camera báo không có luồng video ở đường dẫn đã khai báo. Kiểm tra địa chỉ luồng RTSP "
        "trong danh sách camera và trên đầu ghi; camera có thể đã bị thay, đổi kênh hoặc cập "
        "nhật firmware. Mang theo: máy tính xách tay.",
        "The camera has no stream at the registered path. Check the RTSP address in the "
        "registry and on the NVR; the camera may have been replaced, re-channelled or "
        "updated. Bring: a laptop.",
    ),
    "stream_error": (
        "Camera trả lỗi giao thức RTSP. " + _RESTART[0] + " Kiểm tra cấu hình luồng trên đầu ghi.",
        "The camera answers with an RTSP error. " + _RESTART[1] + " Check the stream "
        "settings on the NVR.",
    ),
    "no_picture": (
        "Kết nối được nhưng không nhận được hình. Khởi động lại camera; kiểm tra cáp và băng "
        "thông mạng (cáp kém làm mất gói); kiểm tra chuẩn nén và bitrate trên đầu ghi. Mang "
        "theo: máy test cáp, dây mạng dự phòng.",
        "Connected, but no picture arrives. Restart the camera; check the cable and the "
        "network bandwidth (a bad cable loses packets); check codec and bitrate on the NVR. "
        "Bring: a cable tester, a spare patch cable.",
    ),
    "wrong_codec": (
        "Camera gửi chuẩn nén không phải H.264/H.265. Vào cài đặt camera, chọn lại H.264 "
        "hoặc H.265 cho luồng chính. Mang theo: máy tính xách tay.",
        "The camera sends a codec other than H.264/H.265. In the camera settings, choose "
        "H.264 or H.265 for the main stream. Bring: a laptop.",
    ),
    "black": (
        "Hình đen hoàn toàn. Kiểm tra nắp che ống kính, đèn hồng ngoại ban đêm, bộ lọc IR-cut "
        "bị kẹt; khởi động lại camera. Nếu vẫn đen, cảm biến hỏng: thay camera. Mang theo: "
        "thang, camera dự phòng.",
        "The picture is completely black. Check for a lens cap, the night IR lights, a stuck "
        "IR-cut filter; restart the camera. Still black: the sensor is dead, replace the "
        "camera. Bring: a ladder, a spare camera.",
    ),
    "covered": (
        "Ống kính bị che (túi nilon, băng dính, sơn, lá cây, mạng nhện). Lên gỡ vật che, lau "
        "sạch ống kính; cắt tỉa cành cây nếu che tầm nhìn. Mang theo: thang, khăn lau, kéo "
        "cắt cành.",
        "The lens is covered (plastic bag, tape, paint, leaves, cobwebs). Clear the lens and "
        "wipe it; trim branches in the view. Bring: a ladder, a cloth, pruning shears.",
    ),
    "frozen": (
        "Hình bị đứng (một khung hình lặp lại). " + _RESTART[0],
        "The picture is frozen (the same frame again and again). " + _RESTART[1],
    ),
    "moved": (
        "Camera bị lệch hướng so với ảnh tham chiếu. Chỉnh lại hướng theo ảnh chụp tham chiếu "
        "của camera rồi siết chặt giá đỡ. Mang theo: thang, cờ lê và tua vít, điện thoại để "
        "xem ảnh tham chiếu.",
        "The camera points elsewhere than in its reference snapshot. Re-aim it using the "
        "reference snapshot and tighten the bracket. Bring: a ladder, spanner and "
        "screwdriver, a phone to see the reference snapshot.",
    ),
    "blurred": (
        "Hình mờ. Lau sạch ống kính và kính chắn (bụi, hơi nước, mạng nhện) rồi chỉnh lại "
        "tiêu cự; camera có zoom thì dùng lấy nét tự động trên đầu ghi. Mang theo: thang, "
        "khăn lau ống kính, dung dịch lau.",
        "The picture is blurred. Clean the lens and its window (dust, condensation, cobwebs), "
        "then refocus; for a zoom camera use autofocus from the NVR. Bring: a ladder, a lens "
        "cloth, cleaning fluid.",
    ),
    "too_dark": (
        "Hình quá tối. Kiểm tra đèn hồng ngoại (IR) và đèn chiếu sáng ban đêm, chế độ "
        "ngày/đêm của camera, đèn đường gần camera. Mang theo: thang, đèn pin.",
        "The picture is too dark. Check the IR and night lights, the camera's day/night "
        "mode, the street light near it. Bring: a ladder, a torch.",
    ),
    "too_bright": (
        "Hình quá sáng (chói). Kiểm tra camera có hướng vào đèn hoặc mặt trời không; bật "
        "chống ngược sáng (BLC/WDR) hoặc chỉnh phơi sáng; kiểm tra bộ lọc IR-cut.",
        "The picture is too bright (glare). Check whether it faces a lamp or the sun; turn "
        "on backlight compensation (BLC/WDR) or adjust the exposure; check the IR-cut filter.",
    ),
    "noisy": (
        "Hình nhiễu hạt. Thường do thiếu sáng hoặc nguồn điện, cáp kém: kiểm tra nguồn, cáp, "
        "đèn hồng ngoại; giảm độ khuếch đại (gain) trong cài đặt.",
        "The picture is noisy. Usually too little light or a poor supply or cable: check the "
        "power, the cable, the IR lights; lower the gain in the settings.",
    ),
    "color_cast": (
        "Hình sai màu (ám màu). Bộ lọc IR-cut có thể bị kẹt: khởi động lại camera, kiểm tra "
        "chế độ ngày/đêm và cân bằng trắng.",
        "The colours are wrong (colour cast). The IR-cut filter may be stuck: restart the "
        "camera, check the day/night mode and the white balance.",
    ),
    "low_resolution": (
        "Độ phân giải thấp hơn khai báo. Đặt lại độ phân giải của luồng trên camera/đầu ghi "
        "(thường bị đổi sau khi khôi phục cài đặt gốc). Mang theo: máy tính xách tay.",
        "The resolution is lower than registered. Set the stream resolution again on the "
        "camera/NVR (often changed by a factory reset). Bring: a laptop.",
    ),
    "low_fps": (
        "Tốc độ khung hình thấp. Kiểm tra cài đặt số khung hình/giây và bitrate, băng thông "
        "mạng tới camera (cáp, switch).",
        "The frame rate is low. Check the frames-per-second and bitrate settings, and the "
        "network bandwidth to the camera (cable, switch).",
    ),
    "no_audio": (
        "Mất âm thanh. Kiểm tra micro của camera và bật âm thanh cho luồng trong cài đặt.",
        "No audio. Check the camera's microphone and turn audio on for the stream.",
    ),
    UNKNOWN: (
        "Camera báo lỗi nhưng chưa rõ nguyên nhân. Xem ảnh chụp gần nhất; kiểm tra nguồn, "
        "mạng và hình ảnh tại chỗ.",
        "The camera reports a problem of unknown cause. Look at the latest snapshot; check "
        "power, network and picture on site.",
    ),
}
#: Cause-specific first sentence, before the advice of its problem.
CAUSE_TEXT: dict[str, tuple[str, str]] = {
    "unreachable": (
        "Kết nối bị từ chối hoặc không có đường mạng tới camera.",
        "The connection was refused or there is no route to the camera.",
    ),
    "timeout": ("Camera không phản hồi khi kết nối.", "The camera did not answer the connection."),
    "no_video": ("Không có gói hình nào tới.", "No video packets arrive."),
    "no_keyframe": (
        "Có dữ liệu nhưng không có khung hình chính (keyframe).",
        "Data arrives, but no keyframe.",
    ),
    "decode_error": ("Hình gửi tới bị lỗi, không giải mã được.", "The picture cannot be decoded."),
}
#: Short labels of the faults, for "also:" lines.
FAULT_LABEL: dict[str, tuple[str, str]] = {
    "black": ("hình đen", "black picture"),
    "covered": ("ống kính bị che", "lens covered"),
    "blurred": ("hình mờ", "blurred"),
    "frozen": ("hình bị đứng", "frozen"),
    "moved": ("lệch hướng", "moved"),
    "noisy": ("hình nhiễu", "noisy"),
    "too_dark": ("quá tối", "too dark"),
    "too_bright": ("quá sáng", "too bright"),
    "color_cast": ("sai màu", "colour cast"),
    "low_resolution": ("độ phân giải thấp", "low resolution"),
    "low_fps": ("khung hình/giây thấp", "low frame rate"),
    "no_audio": ("mất âm thanh", "no audio"),
}
#: Every problem key a task can have (grace periods are set per key).
PROBLEMS: tuple[str, ...] = (*ADVICE, SITE)


def diagnose(status: str, faults: Sequence[str], cause: str | None) -> Diagnosis:
    """Return the problem of a camera and what to do, Vietnamese first.

    Args:
        status: The camera status (``down``, ``degraded``; others give ``unknown_fault``).
        faults: The agent's fault names (unknown names are ignored).
        cause: The probe cause when no picture could be had, else None.
    """
    present = [f for f in FAULT_ORDER if f in faults]
    if cause in CAUSE_PROBLEM:
        problem = CAUSE_PROBLEM[cause]
        others = present
    elif present:
        problem, others = present[0], present[1:]
    else:
        problem, others = UNKNOWN, []
    vi, en = ADVICE[problem]
    if cause in CAUSE_TEXT:
        vi, en = f"{CAUSE_TEXT[cause][0]} {vi}", f"{CAUSE_TEXT[cause][1]} {en}"
    if others:
        vi += " Ngoài ra: " + ", ".join(FAULT_LABEL[f][0] for f in others) + "."
        en += " Also: " + ", ".join(FAULT_LABEL[f][1] for f in others) + "."
    if problem == UNKNOWN and status not in ("down", "degraded"):
        vi += f" (Trạng thái: {status}.)"
        en += f" (Status: {status}.)"
    return Diagnosis(problem, vi, en)


def diagnose_site(cameras: Sequence[str], site: str = "") -> Diagnosis:
    """Return what to do when a site's agent (with its NVR) is offline.

    Args:
        cameras: The ids of the cameras the site serves (all unmonitored now).
        site: The site's name or id, for the text.
    """
    n = len(cameras)
    where_vi = f" tại điểm {site}" if site else ""
    where_en = f" at site {site}" if site else ""
    vi = (
        f"Máy agent/đầu ghi{where_vi} mất kết nối: {n} camera không được theo dõi. Kiểm tra "
        "nguồn điện của tủ thiết bị (đầu ghi NVR, máy agent, switch, bộ lưu điện), dây mạng "
        "đường lên (uplink) và bộ phát 4G/modem: đèn tín hiệu, SIM còn tiền và dung lượng. "
        "Mang theo: ổ cắm và nguồn dự phòng, dây mạng, SIM 4G dự phòng, máy test cáp."
    )
    en = (
        f"The agent/NVR box{where_en} is offline: {n} cameras are not monitored. Check the "
        "power of the equipment cabinet (NVR, agent box, switch, UPS), the uplink cable and "
        "the 4G router/modem: signal lights, SIM credit and data. Bring: a power strip and a "
        "spare supply, patch cables, a spare 4G SIM, a cable tester."
    )
    return Diagnosis(SITE, vi, en)
