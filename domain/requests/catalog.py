"""The device catalog every installation starts with: categories, their checklists, common models."""
from __future__ import annotations

from sqlalchemy import select

from ..core.db import db
from ..requests.models import DeviceCategory, DeviceModel, FaultCategory


def _pairs(*items: tuple[str, str]) -> list[dict[str, str]]:
    return [{"zh": zh, "en": en} for zh, en in items]


CATEGORIES = [
    {
        "code": "camera", "name_zh": "摄像机", "name_en": "Camera",
        "acceptance_tests": _pairs(("开机自检正常", "Powers on and passes self-test"),
                                   ("画面输出清晰无花屏", "Clean picture output, no artefacts"),
                                   ("对焦与变焦正常", "Focus and zoom work"),
                                   ("推流画面稳定10分钟", "Stream stable for 10 minutes")),
        "suggested_tools": _pairs(("十字螺丝刀套装", "Phillips screwdriver set"),
                                  ("SDI/HDMI 测试监视器", "SDI/HDMI test monitor"),
                                  ("镜头清洁套装", "Lens cleaning kit")),
        "suggested_spares": _pairs(("HDMI 线 2m", "HDMI cable 2 m"), ("12G-SDI 线", "12G-SDI cable"),
                                   ("电源适配器 12V", "12 V power adapter"), ("NP-F 电池", "NP-F battery")),
        "precaution_templates": _pairs(("长时间直播请使用外接电源，勿仅靠电池",
                                        "Use mains power for long streams, not only the battery"),
                                       ("避免镜头直对强光源", "Do not point the lens at strong light")),
    },
    {
        "code": "audio_mixer", "name_zh": "调音台", "name_en": "Audio mixer",
        "acceptance_tests": _pairs(("各通道输入有信号", "Signal on every input channel"),
                                   ("耳返与主输出正常", "Monitor and main outputs work"),
                                   ("无底噪与爆音", "No hum or pops"),
                                   ("USB 声卡被电脑识别", "USB audio recognised by the computer")),
        "suggested_tools": _pairs(("音频测试仪", "Audio tester"), ("XLR 通断测试器", "XLR cable tester")),
        "suggested_spares": _pairs(("XLR 卡侬线", "XLR cable"), ("6.35mm 音频线", "6.35 mm jack cable"),
                                   ("USB-B 数据线", "USB-B cable"), ("电源适配器", "Power adapter")),
        "precaution_templates": _pairs(("开关机前先将推子归零", "Pull faders down before power on/off"),
                                       ("幻象电源只给电容话筒使用", "Phantom power only for condenser microphones")),
    },
    {
        "code": "video_switcher", "name_zh": "导播切换台", "name_en": "Video switcher",
        "acceptance_tests": _pairs(("所有输入源正常显示", "Every input source shows"),
                                   ("切换无黑场与卡顿", "Cuts without black frames or stutter"),
                                   ("PGM 输出与推流正常", "Programme output and stream work"),
                                   ("字幕与画中画正常", "Titles and picture-in-picture work")),
        "suggested_tools": _pairs(("HDMI/SDI 信号发生器", "HDMI/SDI signal generator"),
                                  ("笔记本电脑（含控制软件）", "Laptop with control software")),
        "suggested_spares": _pairs(("HDMI 线", "HDMI cable"), ("网线 Cat6", "Cat6 network cable"),
                                   ("电源线", "Power cord")),
        "precaution_templates": _pairs(("固件升级前请联系技术支持", "Contact support before a firmware update"),
                                       ("保持设备通风，勿堆叠摆放", "Keep it ventilated; do not stack devices")),
    },
    {
        "code": "encoder", "name_zh": "编码器", "name_en": "Encoder",
        "acceptance_tests": _pairs(("编码器正常启动", "Encoder boots normally"),
                                   ("推流地址与密钥有效", "Stream URL and key valid"),
                                   ("码率稳定无丢帧", "Stable bitrate, no dropped frames"),
                                   ("连续推流30分钟无中断", "30 minutes of streaming without interruption")),
        "suggested_tools": _pairs(("网络测试仪", "Network tester"), ("笔记本电脑", "Laptop"),
                                  ("4G/5G 备用路由器", "4G/5G backup router")),
        "suggested_spares": _pairs(("网线 Cat6", "Cat6 network cable"), ("HDMI 线", "HDMI cable"),
                                   ("电源适配器 12V", "12 V power adapter")),
        "precaution_templates": _pairs(("直播前先测速，上行带宽需为码率的1.5倍以上",
                                        "Test the uplink before going live: at least 1.5x the bitrate"),
                                       ("备用推流线路保持在线", "Keep the backup stream path online")),
    },
    {
        "code": "light", "name_zh": "灯光", "name_en": "Light",
        "acceptance_tests": _pairs(("亮度调节正常", "Dimming works"), ("色温调节正常", "Colour temperature works"),
                                   ("无频闪", "No flicker on camera")),
        "suggested_tools": _pairs(("照度计", "Light meter"), ("螺丝刀套装", "Screwdriver set")),
        "suggested_spares": _pairs(("电源适配器", "Power adapter"), ("DMX 线", "DMX cable"),
                                   ("柔光罩", "Softbox diffuser")),
        "precaution_templates": _pairs(("使用后待灯体冷却再收纳", "Let the light cool down before packing"),),
    },
    {
        "code": "capture_card", "name_zh": "采集卡", "name_en": "Capture card",
        "acceptance_tests": _pairs(("电脑识别采集设备", "Computer recognises the capture device"),
                                   ("直播软件画面与声音正常", "Picture and sound in the streaming software")),
        "suggested_tools": _pairs(("笔记本电脑", "Laptop"),),
        "suggested_spares": _pairs(("USB 3.0 数据线", "USB 3.0 cable"), ("HDMI 线", "HDMI cable")),
        "precaution_templates": _pairs(("请接在 USB 3.0 接口上", "Plug it into a USB 3.0 port"),),
    },
    {
        "code": "other", "name_zh": "其他", "name_en": "Other",
        "acceptance_tests": _pairs(("设备功能正常", "Device works normally"),),
        "suggested_tools": _pairs(("通用工具包", "General tool kit"),),
        "suggested_spares": _pairs(("电源线", "Power cord"),),
        "precaution_templates": _pairs(("按说明书操作", "Follow the manual"),),
    },
]

MODELS = [
    ("camera", "Sony", "PXW-Z190"), ("camera", "Panasonic", "AW-UE150"), ("camera", "Canon", "XF605"),
    ("camera", "Blackmagic", "Studio Camera 4K Plus"),
    ("audio_mixer", "Yamaha", "MG10XU"), ("audio_mixer", "Behringer", "X32 Compact"),
    ("audio_mixer", "Rode", "RODECaster Pro II"),
    ("video_switcher", "Blackmagic", "ATEM Mini Pro ISO"), ("video_switcher", "Roland", "V-8HD"),
    ("video_switcher", "Blackmagic", "ATEM Television Studio HD8"),
    ("encoder", "Magewell", "Ultra Encode HDMI"), ("encoder", "Teradek", "Vidiu X"),
    ("encoder", "LiveU", "Solo Pro"),
    ("light", "Aputure", "LS 300d II"), ("light", "Godox", "SL-60W"),
    ("capture_card", "Elgato", "HD60 X"), ("capture_card", "Magewell", "USB Capture HDMI 4K Plus"),
]

FAULTS = [
    ("camera", "no_signal", "无视频信号输出", "No video output"),
    ("camera", "focus", "对焦异常", "Focus failure"),
    ("audio_mixer", "noise", "底噪/电流声", "Hum or noise"),
    ("audio_mixer", "usb_audio", "USB 声卡不识别", "USB audio not recognised"),
    ("video_switcher", "input_loss", "输入源丢失", "Input source lost"),
    ("video_switcher", "stream_fail", "推流失败", "Stream fails"),
    ("encoder", "bitrate_drop", "码率波动/丢帧", "Bitrate drops, frames lost"),
    ("encoder", "auth_fail", "推流鉴权失败", "Stream authentication fails"),
    ("light", "flicker", "频闪", "Flicker"),
    ("capture_card", "not_detected", "采集设备不识别", "Capture device not detected"),
]


def ensure_catalog() -> dict[str, DeviceCategory]:
    """Create what is missing of the standard catalog; never overwrites what an admin changed."""
    existing = {c.code: c for c in db.session.execute(select(DeviceCategory)).scalars()}
    for position, spec in enumerate(CATEGORIES):
        if spec["code"] not in existing:
            category = DeviceCategory(position=position, **spec)
            db.session.add(category)
            existing[spec["code"]] = category
    db.session.flush()
    known_models = {(m.brand, m.model) for m in db.session.execute(select(DeviceModel)).scalars()}
    for code, brand, model in MODELS:
        if (brand, model) not in known_models:
            db.session.add(DeviceModel(category=existing[code], brand=brand, model=model))
    known_faults = {(f.device_category_id, f.code) for f in db.session.execute(select(FaultCategory)).scalars()}
    for code, fault, zh, en in FAULTS:
        if (existing[code].id, fault) not in known_faults:
            db.session.add(FaultCategory(device_category=existing[code], code=fault, name_zh=zh, name_en=en))
    db.session.flush()
    return existing
