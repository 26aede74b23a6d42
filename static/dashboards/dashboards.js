// Charts of the dashboard pages: each `.dash-chart` names its kind and a json_script source.
(function () {
  "use strict";
  var L = {};
  var percent = function (v) { return v === null || v === undefined ? null : Math.round(v * 1000) / 10; };
  var builders = {
    "wechat-daily": function (rows) {
      return {
        tooltip: {trigger: "axis"}, legend: {top: 24},
        xAxis: {type: "category", data: rows.map(function (r) { return r.day; })},
        yAxis: [{type: "value", name: "#"}, {type: "value", name: "%", max: 100}],
        series: [
          {name: L.conversations, type: "bar", data: rows.map(function (r) { return r.conversations; })},
          {name: L.response_rate, type: "line", yAxisIndex: 1, connectNulls: true, data: rows.map(function (r) { return percent(r.response_rate); })},
          {name: L.resolution_rate, type: "line", yAxisIndex: 1, connectNulls: true, data: rows.map(function (r) { return percent(r.resolution_rate); })},
          {name: L.satisfaction_rate, type: "line", yAxisIndex: 1, connectNulls: true, data: rows.map(function (r) { return percent(r.satisfaction_rate); })}
        ]
      };
    },
    "histogram": function (rows) {
      return {
        tooltip: {trigger: "axis"},
        xAxis: {type: "category", data: rows.map(function (r) { return r.bucket; })},
        yAxis: {type: "value"},
        series: [{name: L.conversations, type: "bar", data: rows.map(function (r) { return r.conversations; })}]
      };
    },
    "followers": function (rows) {
      return {
        tooltip: {trigger: "axis"},
        xAxis: {type: "category", data: rows.map(function (r) { return r.day; })},
        yAxis: {type: "value", scale: true},
        series: [{name: L.followers, type: "line", smooth: true, connectNulls: true, data: rows.map(function (r) { return r.followers; })}]
      };
    },
    "mentions": function (rows) {
      var share = function (key) { return rows.map(function (r) { return r[key] === null ? 0 : Math.round(r[key] * r.mentions); }); };
      return {
        tooltip: {trigger: "axis"}, legend: {top: 24},
        xAxis: {type: "category", data: rows.map(function (r) { return r.day; })},
        yAxis: {type: "value"},
        series: [
          {name: L.positive, type: "bar", stack: "s", color: "#52c41a", data: share("positive")},
          {name: L.neutral, type: "bar", stack: "s", color: "#bfbfbf", data: share("neutral")},
          {name: L.negative, type: "bar", stack: "s", color: "#f5222d", data: share("negative")}
        ]
      };
    },
    "posts": function (rows) {
      return {
        tooltip: {trigger: "axis"}, legend: {top: 24}, grid: {left: 160},
        yAxis: {type: "category", inverse: true, data: rows.map(function (r) { return (r.text || "").slice(0, 12); })},
        xAxis: {type: "value"},
        series: [
          {name: L.reposts, type: "bar", stack: "e", data: rows.map(function (r) { return r.reposts; })},
          {name: L.comments, type: "bar", stack: "e", data: rows.map(function (r) { return r.comments; })}
        ]
      };
    },
    "funnel": function (rows) {
      return {
        tooltip: {trigger: "item"},
        series: [{type: "funnel", sort: "none", left: "10%", width: "80%", minSize: "10%",
          label: {show: true, position: "inside", formatter: "{b}: {c}"}, data: rows}]
      };
    }
  };
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.echarts) { return; }
    var labels = document.getElementById("chart-labels");
    if (labels) { L = JSON.parse(labels.textContent); }
    document.querySelectorAll(".dash-chart").forEach(function (el) {
      var source = document.getElementById(el.dataset.source);
      var build = builders[el.dataset.chart];
      if (!source || !build) { return; }
      var option = build(JSON.parse(source.textContent));
      option.title = {text: el.dataset.title, left: 8, top: 4, textStyle: {fontSize: 14}};
      option.grid = Object.assign({top: 64, left: 48, right: 48, bottom: 32}, option.grid || {});
      var chart = echarts.init(el);
      chart.setOption(option);
      el.dataset.rendered = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  });
})();
