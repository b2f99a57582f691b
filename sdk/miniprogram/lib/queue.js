'use strict';
/**
 * A first-come, first-served limit on concurrent tasks. WeChat fails a wx.request beyond
 * 10 at once (and counts wx.uploadFile separately), so every call goes through one of these.
 */

/**
 * @param {number} limit how many tasks may run at once
 * @returns {(task: () => Promise<any>) => Promise<any>} run a task when a slot is free
 */
function createLimiter(limit) {
  let active = 0;
  const waiting = [];

  function next() {
    if (active >= limit || waiting.length === 0) return;
    active += 1;
    const job = waiting.shift();
    Promise.resolve()
      .then(job.task)
      .then(job.resolve, job.reject)
      .then(function release() {
        active -= 1;
        next();
      });
  }

  return function run(task) {
    return new Promise(function enqueue(resolve, reject) {
      waiting.push({ task: task, resolve: resolve, reject: reject });
      next();
    });
  };
}

module.exports = { createLimiter };
